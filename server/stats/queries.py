"""The statistics statements: per-lesson facts, then sums per unit, child unit or bucket.

Shape of every report: one CTE `scoped` selects the lessons of the period whose
main classroom lies under the unit; small grouped subqueries (attendance,
evaluations, recordings, quality) are restricted to those lesson ids and
left-joined; one outer `GROUP BY` sums. Ratios are divided in Python from exact
sums, so PostgreSQL and SQLite give identical answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
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


def _stats_from(row: Any) -> UnitStats:
    values = {}
    for name in SUM_COLUMNS:
        v = getattr(row, name) or 0
        values[name] = int(v) if name in _INT_COLUMNS else float(v)
    return UnitStats(**values)


# --- per-lesson facts ----------------------------------------------------------------------


def _facts(
    d: SqlDialect,
    scope_path: str,
    period: Period,
    tolerance: int,
    group_parent_id: int | None,
    extra: tuple[Any, ...] = (),
) -> sa.Subquery:
    """One row per lesson of the period under `scope_path`, with everything the reports sum.

    `group_parent_id`: when set, `unit_id` is the child of that unit containing the
    lesson's school (drill-down); otherwise `unit_id` is 0.
    """
    school = aliased(OrgUnit, name="school")
    cols: list[Any] = [
        Lesson.id.label("lesson_id"),
        Lesson.state.label("state"),
        Lesson.starts_at.label("starts_at"),
        Lesson.actual_start.label("actual_start"),
        Lesson.actual_end.label("actual_end"),
        Lesson.main_classroom_id.label("main_classroom_id"),
        school.id.label("school_id"),
    ]
    query = (
        sa.select(*cols)
        .join(Classroom, Classroom.id == Lesson.main_classroom_id)
        .join(school, school.id == Classroom.school_id)
        .where(
            school.path.startswith(scope_path, autoescape=True),
            Lesson.starts_at >= period.lo,
            Lesson.starts_at < period.hi,
        )
    )
    if group_parent_id is not None:
        child = aliased(OrgUnit, name="child")
        query = query.add_columns(child.id.label("unit_id")).join(
            child,
            sa.and_(child.parent_id == group_parent_id, school.path.startswith(child.path)),
        )
    else:
        query = query.add_columns(sa.literal(0).label("unit_id"))
    scoped = query.cte("scoped")
    ids = sa.select(scoped.c.lesson_id)

    booked = (
        sa.select(lesson_receiver.c.lesson_id, sa.func.count().label("n"))
        .where(lesson_receiver.c.lesson_id.in_(ids))
        .group_by(lesson_receiver.c.lesson_id)
        .subquery("booked")
    )
    p_lesson = aliased(Lesson, name="pl")
    attendance = (
        sa.select(
            Participation.lesson_id,
            sa.func.sum(
                sa.case(
                    (
                        sa.and_(
                            Participation.joined_at.is_not(None),
                            Participation.classroom_id != p_lesson.main_classroom_id,
                        ),
                        1,
                    ),
                    else_=0,
                )
            ).label("connected"),
            sa.func.sum(sa.func.coalesce(Participation.pupils_present, 0)).label("pupils"),
        )
        .join(p_lesson, p_lesson.id == Participation.lesson_id)
        .where(Participation.lesson_id.in_(ids))
        .group_by(Participation.lesson_id)
        .subquery("attendance")
    )
    evaluations = (
        sa.select(
            Evaluation.lesson_id,
            sa.func.count().label("n"),
            sa.func.sum(d.json_values_sum("evaluation", "scores")).label("score"),
        )
        .where(Evaluation.lesson_id.in_(ids))
        .group_by(Evaluation.lesson_id)
        .subquery("evaluations")
    )
    recordings = (
        sa.select(Recording.lesson_id, sa.func.count().label("n"))
        .where(Recording.lesson_id.in_(ids), Recording.state == RecordingState.READY)
        .group_by(Recording.lesson_id)
        .subquery("recordings")
    )
    quality = (
        sa.select(
            QualitySample.lesson_id,
            sa.func.count().label("n"),
            sa.func.sum(QualitySample.loss).label("loss"),
            sa.func.sum(QualitySample.rtt_ms).label("rtt"),
            sa.func.sum(QualitySample.low_layer_share).label("low"),
        )
        .where(QualitySample.lesson_id.in_(ids))
        .group_by(QualitySample.lesson_id)
        .subquery("quality")
    )

    held = scoped.c.state.in_(HELD) & scoped.c.actual_start.is_not(None)
    delay = d.seconds_between(scoped.c.actual_start, scoped.c.starts_at)
    taught = d.seconds_between(scoped.c.actual_end, scoped.c.actual_start) / 60.0
    z = sa.func.coalesce
    facts = (
        sa.select(
            scoped.c.lesson_id,
            scoped.c.unit_id,
            scoped.c.school_id,
            scoped.c.state,
            scoped.c.starts_at,
            scoped.c.actual_start,
            scoped.c.actual_end,
            sa.case((held, 1), else_=0).label("held"),
            sa.case((scoped.c.state == LessonState.CANCELLED.value, 1), else_=0).label("cancelled"),
            sa.case((sa.and_(held, delay <= tolerance), 1), else_=0).label("on_time"),
            sa.case((held, delay), else_=None).label("delay_s"),
            sa.case((sa.and_(held, scoped.c.actual_end.is_not(None)), taught), else_=0.0).label(
                "minutes"
            ),
            sa.case((held, z(booked.c.n, 0)), else_=0).label("booked"),
            sa.case((held, z(attendance.c.connected, 0)), else_=0).label("connected"),
            z(attendance.c.pupils, 0).label("pupils"),
            z(evaluations.c.n, 0).label("eval_n"),
            z(evaluations.c.score, 0).label("eval_score"),
            z(recordings.c.n, 0).label("rec_ready"),
            z(quality.c.n, 0).label("q_n"),
            z(quality.c.loss, 0).label("q_loss"),
            z(quality.c.rtt, 0).label("q_rtt"),
            z(quality.c.low, 0).label("q_low"),
            *extra,
        )
        .select_from(scoped)
        .outerjoin(booked, booked.c.lesson_id == scoped.c.lesson_id)
        .outerjoin(attendance, attendance.c.lesson_id == scoped.c.lesson_id)
        .outerjoin(evaluations, evaluations.c.lesson_id == scoped.c.lesson_id)
        .outerjoin(recordings, recordings.c.lesson_id == scoped.c.lesson_id)
        .outerjoin(quality, quality.c.lesson_id == scoped.c.lesson_id)
    )
    return facts.subquery("facts")


def _sums(f: sa.Subquery) -> list[Any]:
    s = sa.func.sum
    return [
        sa.func.count().label("lessons_scheduled"),
        s(f.c.held).label("lessons_held"),
        s(f.c.cancelled).label("lessons_cancelled"),
        s(f.c.on_time).label("lessons_on_time"),
        s(f.c.delay_s).label("start_delay_seconds_total"),
        s(f.c.minutes).label("minutes_taught"),
        s(f.c.booked).label("receivers_booked"),
        s(f.c.connected).label("receivers_connected"),
        s(f.c.pupils).label("pupils_reported"),
        s(f.c.eval_n).label("evaluations"),
        s(f.c.eval_score).label("evaluation_score_total"),
        s(sa.case((f.c.rec_ready > 0, 1), else_=0)).label("lessons_recorded"),
        s(f.c.rec_ready).label("recordings_ready"),
        s(f.c.q_n).label("quality_samples"),
        s(f.c.q_loss).label("loss_total"),
        s(f.c.q_rtt).label("rtt_ms_total"),
        s(f.c.q_low).label("low_layer_share_total"),
    ]


# --- teaching points -----------------------------------------------------------------------


def _teaching_points(
    scope_path: str, period: Period, group_parent_id: int | None
) -> sa.Select[Any]:
    """Receiving classrooms under the unit, and how many joined a lesson of the period."""
    school = aliased(OrgUnit, name="tp_school")
    active = (
        sa.select(Participation.classroom_id)
        .join(Lesson, Lesson.id == Participation.lesson_id)
        .where(
            Participation.joined_at.is_not(None),
            Lesson.starts_at >= period.lo,
            Lesson.starts_at < period.hi,
        )
    )
    query = (
        sa.select(
            sa.func.count(Classroom.id).label("points"),
            sa.func.sum(sa.case((Classroom.id.in_(active), 1), else_=0)).label("active"),
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


async def unit_stats(
    session: AsyncSession, scope_path: str, period: Period, tolerance: int
) -> UnitStats:
    """Totals of one unit (everything under `scope_path`) over the whole period."""
    f = _facts(_dialect(session), scope_path, period, tolerance, None)
    row = (await session.execute(sa.select(*_sums(f)))).one()
    stats = _stats_from(row)
    tp = (await session.execute(_teaching_points(scope_path, period, None))).one()
    stats.teaching_points, stats.teaching_points_active = int(tp.points), int(tp.active or 0)
    return stats


async def children_stats(
    session: AsyncSession, unit: OrgUnit, period: Period, tolerance: int
) -> list[tuple[OrgUnit, UnitStats]]:
    """One row per child unit (drill-down), children without lessons included as zeros."""
    children = (
        await session.scalars(
            sa.select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(OrgUnit.name)
        )
    ).all()
    f = _facts(_dialect(session), unit.path, period, tolerance, unit.id)
    rows = await session.execute(sa.select(f.c.unit_id, *_sums(f)).group_by(f.c.unit_id))
    by_unit = {r.unit_id: _stats_from(r) for r in rows}
    points = {
        r.unit_id: (int(r.points), int(r.active or 0))
        for r in await session.execute(_teaching_points(unit.path, period, unit.id))
    }
    out = []
    for child in children:
        stats = by_unit.get(child.id, UnitStats())
        stats.teaching_points, stats.teaching_points_active = points.get(child.id, (0, 0))
        out.append((child, stats))
    return out


async def series_stats(
    session: AsyncSession, scope_path: str, period: Period, tolerance: int
) -> list[tuple[date, date, UnitStats]]:
    """One row per day/week bucket of the period (every bucket, empty ones as zeros)."""
    d = _dialect(session)
    f = _facts(d, scope_path, period, tolerance, None)
    origin = period.origin_utc.timestamp()
    bucket = d.floor_div(d.epoch(f.c.starts_at) - origin, period.bucket_days * 86400.0).label(
        "bucket"
    )
    rows = await session.execute(sa.select(bucket, *_sums(f)).group_by(bucket))
    by_bucket = {int(r.bucket): _stats_from(r) for r in rows}
    out = []
    for i in range(period.bucket_count()):
        first, last = period.bucket_bounds(i)
        out.append((first, last, by_bucket.get(i, UnitStats())))
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
    """One page of per-lesson facts (by start time) and the total count."""
    f = _facts(_dialect(session), scope_path, period, tolerance, None)
    total = await session.scalar(sa.select(sa.func.count()).select_from(f))
    school = aliased(OrgUnit, name="row_school")
    query = (
        sa.select(f, Lesson.title, school.name.label("school_name"), User.display_name)
        .join(Lesson, Lesson.id == f.c.lesson_id)
        .join(school, school.id == f.c.school_id)
        .join(User, User.id == Lesson.teacher_id)
        .order_by(f.c.starts_at, f.c.lesson_id)
        .limit(limit)
        .offset(offset)
    )
    out = []
    for r in await session.execute(query):
        q_n = int(r.q_n)

        def mean(total: Any, n: int) -> float | None:
            return round(float(total) / n, 4) if n else None

        out.append(
            LessonRow(
                lesson_id=r.lesson_id,
                title=r.title,
                school_id=r.school_id,
                school_name=r.school_name,
                teacher_name=r.display_name,
                state=str(r.state),
                starts_at=r.starts_at,
                actual_start=r.actual_start,
                actual_end=r.actual_end,
                start_delay_seconds=None if r.delay_s is None else round(float(r.delay_s), 2),
                on_time=bool(r.on_time),
                minutes_taught=round(float(r.minutes or 0), 2),
                receivers_booked=int(r.booked),
                receivers_connected=int(r.connected),
                pupils_reported=int(r.pupils),
                evaluations=int(r.eval_n),
                mean_evaluation_score=mean(r.eval_score, int(r.eval_n)),
                recordings_ready=int(r.rec_ready),
                quality_samples=q_n,
                mean_loss=mean(r.q_loss, q_n),
                mean_rtt_ms=mean(r.q_rtt, q_n),
                mean_low_layer_share=mean(r.q_low, q_n),
            )
        )
    return total or 0, out
