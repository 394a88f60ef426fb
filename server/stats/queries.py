"""The statistics statements: sums per unit, child unit or bucket, and per-lesson rows.

Every report starts from the same lesson set (`_scoped`: lessons of the period
whose main classroom lies under the unit) and runs one grouped aggregate per
source table (lessons, bookings, attendance, evaluations, recordings, quality).
Ratios are divided in Python from exact sums, so PostgreSQL and SQLite give
identical answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from server.db.models import (
    Classroom,
    ClassroomKind,
    Evaluation,
    Lesson,
    LessonState,
    OrgUnit,
    Participation,
    Recording,
    RecordingState,
    User,
    lesson_receiver,
)
from server.db.models_supervision import QualitySample
from server.stats.period import Period
from server.stats.sql import SqlDialect

HELD = (LessonState.LIVE.value, LessonState.ENDED.value)


@dataclass
class UnitStats:
    """Sums and the ratios derived from them, for one unit (or bucket) and period."""

    lessons_scheduled: int = 0
    lessons_held: int = 0
    lessons_cancelled: int = 0
    lessons_on_time: int = 0
    start_delay_seconds_total: float = 0.0
    minutes_taught: float = 0.0
    receivers_booked: int = 0
    receivers_connected: int = 0
    pupils_reported: int = 0
    evaluations: int = 0
    evaluation_score_total: float = 0.0
    lessons_recorded: int = 0
    recordings_ready: int = 0
    quality_samples: int = 0
    loss_total: float = 0.0
    rtt_ms_total: float = 0.0
    low_layer_share_total: float = 0.0
    teaching_points: int | None = None
    teaching_points_active: int | None = None

    def add(self, other: UnitStats) -> None:
        """Sum the additive figures of `other` into this one (classrooms → units)."""
        for name in SUM_COLUMNS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @staticmethod
    def _ratio(num: float, den: float) -> float | None:
        return round(num / den, 4) if den else None

    def derived(self) -> dict[str, float | None]:
        r = self._ratio
        return {
            "held_share": r(self.lessons_held, self.lessons_scheduled),
            "on_time_share": r(self.lessons_on_time, self.lessons_held),
            "mean_start_delay_seconds": r(self.start_delay_seconds_total, self.lessons_held),
            "receivers_per_lesson": r(self.receivers_connected, self.lessons_held),
            "receivers_connected_share": r(self.receivers_connected, self.receivers_booked),
            "mean_evaluation_score": r(self.evaluation_score_total, self.evaluations),
            "recorded_share": r(self.lessons_recorded, self.lessons_held),
            "mean_loss": r(self.loss_total, self.quality_samples),
            "mean_rtt_ms": r(self.rtt_ms_total, self.quality_samples),
            "mean_low_layer_share": r(self.low_layer_share_total, self.quality_samples),
            "teaching_points_active_share": r(
                self.teaching_points_active or 0, self.teaching_points or 0
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["minutes_taught"] = round(self.minutes_taught, 2)
        out["start_delay_seconds_total"] = round(self.start_delay_seconds_total, 2)
        return {**out, **self.derived()}


SUM_COLUMNS = [
    "lessons_scheduled",
    "lessons_held",
    "lessons_cancelled",
    "lessons_on_time",
    "start_delay_seconds_total",
    "minutes_taught",
    "receivers_booked",
    "receivers_connected",
    "pupils_reported",
    "evaluations",
    "evaluation_score_total",
    "lessons_recorded",
    "recordings_ready",
    "quality_samples",
    "loss_total",
    "rtt_ms_total",
    "low_layer_share_total",
]
_INT_COLUMNS = {f for f in SUM_COLUMNS if isinstance(getattr(UnitStats(), f), int)}


# --- the lessons of a report --------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which lessons a report covers and how it groups them."""

    path: str
    period: Period
    tolerance: int
    bucketed: bool = False  # group by day/week bucket (series)
    lesson_ids: tuple[int, ...] | None = None  # only these lessons, grouped per lesson
    per_lesson: bool = False  # every lesson of the scope, grouped per lesson (exports)
    by_classroom: bool = False  # grouped per main classroom, rolled up to child units


def _classrooms_under(path: str) -> sa.Select[Any]:
    school = aliased(OrgUnit, name="school")
    return (
        sa.select(Classroom.id)
        .join(school, school.id == Classroom.school_id)
        .where(school.path.startswith(path, autoescape=True))
    )


def _scoped(d: SqlDialect, sc: Scope) -> sa.Subquery:
    """The lessons of the period whose main classroom lies under the unit, one row each,
    with the group key (`key`: 0, the main classroom for drill-downs, or the lesson for
    pages; `bucket` for series) and the per-lesson facts computed in SQL.

    The org tree stays out of these statements: the scope is a small hashed
    `IN (classrooms under the unit)`, and classrooms are rolled up to child units in
    Python, so the big joins (attendance, quality, ...) meet only the lesson table.
    Inlined (not a CTE) in every statement, so the planner sees real row counts.
    """
    held = sa.and_(Lesson.state.in_(HELD), Lesson.actual_start.is_not(None))
    delay = d.seconds_between(Lesson.actual_start, Lesson.starts_at)
    taught = d.seconds_between(Lesson.actual_end, Lesson.actual_start) / 60.0
    key: Any = sa.literal(0)
    if sc.per_lesson or sc.lesson_ids is not None:
        key = Lesson.id
    elif sc.by_classroom:
        key = Lesson.main_classroom_id
    cols: list[Any] = [
        Lesson.id.label("lesson_id"),
        Lesson.starts_at.label("starts_at"),
        Lesson.main_classroom_id.label("main_classroom_id"),
        key.label("key"),
        sa.case((held, 1), else_=0).label("held"),
        sa.case((Lesson.state == LessonState.CANCELLED.value, 1), else_=0).label("cancelled"),
        sa.case((sa.and_(held, delay <= sc.tolerance), 1), else_=0).label("on_time"),
        sa.case((held, delay), else_=None).label("delay_s"),
        sa.case((sa.and_(held, Lesson.actual_end.is_not(None)), taught), else_=0.0).label(
            "minutes"
        ),
    ]
    if sc.bucketed:
        origin = sc.period.origin_utc.timestamp()
        width = sc.period.bucket_days * 86400.0
        cols.append(d.floor_div(d.epoch(Lesson.starts_at) - origin, width).label("bucket"))
    else:
        cols.append(sa.literal(0).label("bucket"))
    query = sa.select(*cols).where(
        Lesson.main_classroom_id.in_(_classrooms_under(sc.path)),
        Lesson.starts_at >= sc.period.lo,
        Lesson.starts_at < sc.period.hi,
    )
    if sc.lesson_ids is not None:
        query = query.where(Lesson.id.in_(sc.lesson_ids))
    return query.subquery("sl")


def _statements(d: SqlDialect, sc: Scope) -> list[sa.Select[Any]]:
    """One aggregate per source table, each grouped by (key, bucket).

    Why several statements and not one row per lesson joined to everything: at
    province size (10^5 lessons, 10^6 attendance rows) each source is then one
    hash join with the lesson set and a tiny aggregate, instead of five
    lesson-sized intermediate results joined together.
    """
    s, n = sa.func.sum, sa.func.count
    sl = _scoped(d, sc)
    key = [sl.c.key, sl.c.bucket]
    lessons = sa.select(
        *key,
        n().label("lessons_scheduled"),
        s(sl.c.held).label("lessons_held"),
        s(sl.c.cancelled).label("lessons_cancelled"),
        s(sl.c.on_time).label("lessons_on_time"),
        s(sl.c.delay_s).label("start_delay_seconds_total"),
        s(sl.c.minutes).label("minutes_taught"),
    ).group_by(*key)
    booked = (
        sa.select(*key, n().label("receivers_booked"))
        .select_from(lesson_receiver)
        .join(sl, sl.c.lesson_id == lesson_receiver.c.lesson_id)
        .where(sl.c.held == 1)
        .group_by(*key)
    )
    connected = sa.and_(
        sl.c.held == 1,
        Participation.joined_at.is_not(None),
        Participation.classroom_id != sl.c.main_classroom_id,
    )
    attendance = (
        sa.select(
            *key,
            s(sa.case((connected, 1), else_=0)).label("receivers_connected"),
            s(sa.func.coalesce(Participation.pupils_present, 0)).label("pupils_reported"),
        )
        .select_from(Participation)
        .join(sl, sl.c.lesson_id == Participation.lesson_id)
        .group_by(*key)
    )
    evaluations = (
        sa.select(
            *key,
            n().label("evaluations"),
            s(d.json_values_sum("evaluation", "scores")).label("evaluation_score_total"),
        )
        .select_from(Evaluation)
        .join(sl, sl.c.lesson_id == Evaluation.lesson_id)
        .group_by(*key)
    )
    recordings = (
        sa.select(
            *key,
            n().label("recordings_ready"),
            n(sa.distinct(Recording.lesson_id)).label("lessons_recorded"),
        )
        .select_from(Recording)
        .join(sl, sl.c.lesson_id == Recording.lesson_id)
        .where(Recording.state == RecordingState.READY)
        .group_by(*key)
    )
    quality = (
        sa.select(
            *key,
            n().label("quality_samples"),
            s(QualitySample.loss).label("loss_total"),
            s(QualitySample.rtt_ms).label("rtt_ms_total"),
            s(QualitySample.low_layer_share).label("low_layer_share_total"),
        )
        .select_from(QualitySample)
        .join(sl, sl.c.lesson_id == QualitySample.lesson_id)
        .group_by(*key)
    )
    return [lessons, booked, attendance, evaluations, recordings, quality]


PG_SETTINGS = (
    # Short analytic queries: JIT compilation costs more than it saves, and a little
    # more hash memory keeps the aggregates off disk.
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '32MB'",
)
# Pages up to this size (the REST maximum) restrict the aggregates with an IN list.
PAGE_IN_LIST_MAX = 500
# PostgreSQL runs the per-source aggregates on this many pooled connections at once.
PG_CONCURRENCY = 3


def _merge(out: dict[tuple[int, int], UnitStats], rows: Any) -> None:
    for row in rows:
        stats = out.setdefault((int(row.key), int(row.bucket)), UnitStats())
        for name, value in row._mapping.items():
            if name in _INT_COLUMNS:
                setattr(stats, name, int(value or 0))
            elif name in SUM_COLUMNS:
                setattr(stats, name, float(value or 0))


async def _grouped(session: AsyncSession, sc: Scope) -> dict[tuple[int, int], UnitStats]:
    """Run every aggregate and merge them into one `UnitStats` per (key, bucket).

    On PostgreSQL the statements run concurrently on pooled connections (each its
    own snapshot: a report may mix rows committed a few milliseconds apart, which
    statistics can live with); SQLite runs them one after another in the session.
    """
    d = _dialect(session)
    out: dict[tuple[int, int], UnitStats] = {}
    statements = _statements(d, sc)
    engine = session.bind
    if not d.pg or not isinstance(engine, AsyncEngine):
        for statement in statements:
            _merge(out, await session.execute(statement))
        return out
    gate = asyncio.Semaphore(PG_CONCURRENCY)

    async def run(statement: sa.Select[Any]) -> list[Any]:
        async with gate, engine.connect() as conn:
            for setting in PG_SETTINGS:
                await conn.execute(sa.text(setting))
            rows = list(await conn.execute(statement))
            await conn.rollback()
            return rows

    for rows in await asyncio.gather(*(run(x) for x in statements)):
        _merge(out, rows)
    return out


# --- teaching points -----------------------------------------------------------------------


def _teaching_points(
    scope_path: str, period: Period, group_parent_id: int | None
) -> sa.Select[Any]:
    """Receiving classrooms under the unit, and how many joined a lesson of the period."""
    school = aliased(OrgUnit, name="tp_school")
    # EXISTS per classroom walks ix_participation_classroom_lesson and stops at the first
    # lesson in the period; an IN (subquery) here made PostgreSQL scan every participation.
    active = sa.exists(
        sa.select(1)
        .select_from(Participation)
        .join(Lesson, Lesson.id == Participation.lesson_id)
        .where(
            Participation.classroom_id == Classroom.id,
            Participation.joined_at.is_not(None),
            Lesson.starts_at >= period.lo,
            Lesson.starts_at < period.hi,
        )
    )
    query = (
        sa.select(
            sa.func.count(Classroom.id).label("points"),
            sa.func.sum(sa.case((active, 1), else_=0)).label("active"),
        )
        .join(school, school.id == Classroom.school_id)
        .where(
            Classroom.kind == ClassroomKind.RECEIVING,
            school.path.startswith(scope_path, autoescape=True),
        )
    )
    if group_parent_id is None:
        return query.add_columns(sa.literal(0).label("unit_id"))
    child = aliased(OrgUnit, name="tp_child")
    return (
        query.add_columns(child.id.label("unit_id"))
        .join(
            child,
            sa.and_(child.parent_id == group_parent_id, school.path.startswith(child.path)),
        )
        .group_by(child.id)
    )


# --- reports -------------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> SqlDialect:
    return SqlDialect(session.get_bind().dialect.name)


def _rollup(
    grouped: dict[tuple[int, int], UnitStats], unit_of: dict[int, int] | None = None
) -> dict[tuple[int, int], UnitStats]:
    """Sum per-classroom rows into units (`unit_of`: classroom → unit; None: all in 0)."""
    out: dict[tuple[int, int], UnitStats] = {}
    for (key, bucket), stats in grouped.items():
        unit = 0 if unit_of is None else unit_of.get(key)
        if unit is None:
            continue
        out.setdefault((unit, bucket), UnitStats()).add(stats)
    return out


async def unit_stats(
    session: AsyncSession, scope_path: str, period: Period, tolerance: int
) -> UnitStats:
    """Totals of one unit (everything under `scope_path`) over the whole period."""
    grouped = _rollup(await _grouped(session, Scope(scope_path, period, tolerance)))
    stats = grouped.get((0, 0), UnitStats())
    tp = (await session.execute(_teaching_points(scope_path, period, None))).one()
    stats.teaching_points, stats.teaching_points_active = int(tp.points), int(tp.active or 0)
    return stats


async def _child_of_classrooms(session: AsyncSession, unit: OrgUnit) -> dict[int, int]:
    """Classroom id → the child unit of `unit` that contains its school (a few thousand rows)."""
    school = aliased(OrgUnit, name="school")
    child = aliased(OrgUnit, name="child")
    rows = await session.execute(
        sa.select(Classroom.id, child.id)
        .join(school, school.id == Classroom.school_id)
        .join(child, sa.and_(child.parent_id == unit.id, school.path.startswith(child.path)))
    )
    return {int(c): int(u) for c, u in rows.tuples()}


async def children_stats(
    session: AsyncSession, unit: OrgUnit, period: Period, tolerance: int
) -> list[tuple[OrgUnit, UnitStats]]:
    """One row per child unit (drill-down), children without lessons included as zeros."""
    children = (
        await session.scalars(
            sa.select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(OrgUnit.name)
        )
    ).all()
    per_classroom = await _grouped(session, Scope(unit.path, period, tolerance, by_classroom=True))
    grouped = _rollup(per_classroom, await _child_of_classrooms(session, unit))
    points = {
        r.unit_id: (int(r.points), int(r.active or 0))
        for r in await session.execute(_teaching_points(unit.path, period, unit.id))
    }
    out = []
    for child in children:
        stats = grouped.get((child.id, 0), UnitStats())
        stats.teaching_points, stats.teaching_points_active = points.get(child.id, (0, 0))
        out.append((child, stats))
    return out


async def series_stats(
    session: AsyncSession, scope_path: str, period: Period, tolerance: int
) -> list[tuple[date, date, UnitStats]]:
    """One row per day/week bucket of the period (every bucket, empty ones as zeros)."""
    sc = Scope(scope_path, period, tolerance, bucketed=True)
    grouped = _rollup(await _grouped(session, sc))
    out = []
    for i in range(period.bucket_count()):
        first, last = period.bucket_bounds(i)
        out.append((first, last, grouped.get((0, i), UnitStats())))
    return out


@dataclass
class LessonRow:
    lesson_id: int
    title: str
    school_id: int
    school_name: str
    teacher_name: str
    state: str
    starts_at: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    start_delay_seconds: float | None
    on_time: bool
    minutes_taught: float
    receivers_booked: int
    receivers_connected: int
    pupils_reported: int
    evaluations: int
    mean_evaluation_score: float | None
    recordings_ready: int
    quality_samples: int
    mean_loss: float | None
    mean_rtt_ms: float | None
    mean_low_layer_share: float | None


async def lesson_rows(
    session: AsyncSession,
    scope_path: str,
    period: Period,
    tolerance: int,
    limit: int,
    offset: int,
) -> tuple[int, list[LessonRow]]:
    """One page of per-lesson facts (by start time) and the total count.

    The page's lesson ids are chosen first; the aggregates then run for those ids
    only, grouped per lesson, so a page costs the same at any offset and scope.
    """
    sc = Scope(scope_path, period, tolerance)
    sl = _scoped(_dialect(session), sc)
    total = await session.scalar(sa.select(sa.func.count()).select_from(sl))
    school = aliased(OrgUnit, name="row_school")
    page = (
        await session.execute(
            sa.select(
                Lesson.id,
                Lesson.title,
                Lesson.state,
                Lesson.starts_at,
                Lesson.actual_start,
                Lesson.actual_end,
                school.id.label("school_id"),
                school.name.label("school_name"),
                User.display_name,
            )
            .join(sl, sl.c.lesson_id == Lesson.id)
            .join(Classroom, Classroom.id == Lesson.main_classroom_id)
            .join(school, school.id == Classroom.school_id)
            .join(User, User.id == Lesson.teacher_id)
            .order_by(Lesson.starts_at, Lesson.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    ids = tuple(r.id for r in page)
    if not ids:
        grouped: dict[tuple[int, int], UnitStats] = {}
    elif limit <= PAGE_IN_LIST_MAX:
        grouped = await _grouped(session, replace(sc, lesson_ids=ids))
    else:
        # An export (up to max_export_rows): an IN list that long would pass the driver's
        # bind-parameter limit (asyncpg: 32,767), so aggregate the scope per lesson.
        grouped = await _grouped(session, replace(sc, per_lesson=True))
    out = []
    for r in page:
        st = grouped.get((r.id, 0), UnitStats())
        d = st.derived()
        out.append(
            LessonRow(
                lesson_id=r.id,
                title=r.title,
                school_id=r.school_id,
                school_name=r.school_name,
                teacher_name=r.display_name,
                state=str(r.state),
                starts_at=r.starts_at,
                actual_start=r.actual_start,
                actual_end=r.actual_end,
                start_delay_seconds=(
                    round(st.start_delay_seconds_total, 2) if st.lessons_held else None
                ),
                on_time=bool(st.lessons_on_time),
                minutes_taught=round(st.minutes_taught, 2),
                receivers_booked=st.receivers_booked,
                receivers_connected=st.receivers_connected,
                pupils_reported=st.pupils_reported,
                evaluations=st.evaluations,
                mean_evaluation_score=d["mean_evaluation_score"],
                recordings_ready=st.recordings_ready,
                quality_samples=st.quality_samples,
                mean_loss=d["mean_loss"],
                mean_rtt_ms=d["mean_rtt_ms"],
                mean_low_layer_share=d["mean_low_layer_share"],
            )
        )
    return total or 0, out
