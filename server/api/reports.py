"""同步评估 reports: evaluations of a lesson and of a teacher, aggregated; unit rubrics.

The numbers (`server.api.reports` computes them in Python from the rows, so
SQLite and PostgreSQL agree to the digit):
- per criterion: the mean of the scores given for it, and how many gave one;
- an evaluation's total is the sum of its scores; the lesson's total is the mean
  of its evaluations' totals, out of the rubric's maximum;
- a teacher's report pools every evaluation of the teacher's lessons in the range.
Comments come on the lesson timeline (ms after the actual start), in order.
The printable page is clients/web/report.html (PDF through the browser's print).

Rubrics per unit: an admin gives a unit its own rubric; a lesson is scored on
the rubric of the nearest unit above its main classroom, else the default one
(org_unit_id NULL, seeded by migration 0006).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique
from server.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from server.api.schemas import RubricCreate
from server.auth import Principal
from server.db.models import (
    Classroom,
    Course,
    Evaluation,
    Lesson,
    OrgUnit,
    Role,
    Rubric,
    User,
)
from server.errors import NotFound, PermissionDenied, ValidationFailed
from server.policy import (
    get_visible_lesson,
    is_admin_over,
    lesson_places,
    require_admin_over,
    unit_path,
)

router = APIRouter(tags=["reports"])


class CriterionStat(BaseModel):
    key: str
    label: str
    max: int
    mean: float | None
    n: int


class EvaluationRow(BaseModel):
    evaluation_id: int
    evaluator_id: int
    evaluator_name: str
    scores: dict[str, Any]
    total: int
    summary: str


class CommentRow(BaseModel):
    offset_ms: int
    evaluator_id: int
    evaluator_name: str
    classroom_id: int | None
    classroom_name: str | None
    text: str


class LessonSummary(BaseModel):
    id: int
    title: str
    course: str | None
    teacher_id: int
    teacher_name: str
    state: str
    starts_at: datetime
    actual_start: datetime | None
    actual_end: datetime | None


class LessonReport(BaseModel):
    lesson: LessonSummary
    criteria: list[CriterionStat]
    evaluations: list[EvaluationRow]
    evaluation_count: int
    mean_total: float | None
    max_total: int
    comments: list[CommentRow]


class TeacherLessonRow(BaseModel):
    lesson_id: int
    title: str
    starts_at: datetime
    evaluation_count: int
    mean_total: float | None
    max_total: int


class TeacherReport(BaseModel):
    teacher_id: int
    teacher_name: str
    from_: datetime | None
    to: datetime | None
    lesson_count: int
    evaluation_count: int
    mean_total: float | None
    criteria: list[CriterionStat]
    lessons: list[TeacherLessonRow]


class UnitRubricPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    criteria: list[dict[str, Any]]
    org_unit_id: int | None


# --- arithmetic ----------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def criteria_stats(
    criteria: list[dict[str, Any]], evaluations: list[Evaluation]
) -> list[CriterionStat]:
    """Per criterion (the rubric's order, then keys only some evaluations used)."""
    order: dict[str, dict[str, Any]] = {}
    for c in criteria:
        order.setdefault(str(c["key"]), c)
    for e in evaluations:
        for c in e.rubric or []:
            order.setdefault(str(c["key"]), c)
        for key in e.scores:
            order.setdefault(key, {"key": key, "label": key, "max": 0})
    out = []
    for key, c in order.items():
        values = [float(e.scores[key]) for e in evaluations if key in e.scores]
        out.append(
            CriterionStat(key=key, label=str(c.get("label", key)), max=int(c.get("max", 0)),
                          mean=_mean(values), n=len(values))
        )
    return out


def total(e: Evaluation) -> int:
    return int(sum(int(v) for v in e.scores.values()))


def max_total(criteria: list[dict[str, Any]]) -> int:
    return int(sum(int(c.get("max", 0)) for c in criteria))


# --- rubric lookup -------------------------------------------------------------------------


async def effective_rubric(session: AsyncSession, unit_path_: str) -> Rubric | None:
    """The rubric of the nearest unit on `unit_path_` (deepest first), else the default."""
    ids = [int(x) for x in unit_path_.strip("/").split("/") if x]
    rows = (
        await session.scalars(
            sa.select(Rubric)
            .where(sa.or_(Rubric.org_unit_id.in_(ids), Rubric.org_unit_id.is_(None)))
            .order_by(Rubric.id)
        )
    ).all()
    depth = {uid: i for i, uid in enumerate(ids)}
    best: Rubric | None = None
    best_depth = -2
    for r in rows:
        d = depth.get(r.org_unit_id, -1) if r.org_unit_id is not None else -1
        if d > best_depth:
            best, best_depth = r, d
    return best


async def _lesson_criteria(
    session: AsyncSession, lesson: Lesson, evaluations: list[Evaluation]
) -> list[dict[str, Any]]:
    for e in evaluations:
        if e.rubric:
            return list(e.rubric)
    places = await lesson_places(session, lesson)
    rubric = await effective_rubric(session, places.main_path)
    return list(rubric.criteria) if rubric else []


# --- scope ---------------------------------------------------------------------------------


async def _require_lesson_reader(session: AsyncSession, p: Principal, lesson_id: int) -> Lesson:
    lesson = await get_visible_lesson(session, p, lesson_id)
    if p.user_id is not None and p.user_id == lesson.teacher_id:
        return lesson
    if p.role is Role.ADMIN:  # visible to an admin = in the admin's scope
        return lesson
    raise PermissionDenied("the report is for the lesson's teacher and admins in scope")


# --- endpoints -----------------------------------------------------------------------------


async def _names(session: AsyncSession, model: Any, column: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(model.id, column).where(model.id.in_(ids)))
    return dict(rows.tuples().all())


@router.get("/api/lessons/{lesson_id}/evaluation-report", response_model=LessonReport)
async def lesson_report(lesson_id: int, session: SessionDep, p: CurrentPrincipal) -> LessonReport:
    lesson = await _require_lesson_reader(session, p, lesson_id)
    evaluations = list(
        (
            await session.scalars(
                sa.select(Evaluation)
                .where(Evaluation.lesson_id == lesson_id)
                .order_by(Evaluation.id)
            )
        ).all()
    )
    criteria = await _lesson_criteria(session, lesson, evaluations)
    people = await _names(
        session, User, User.display_name, {e.evaluator_id for e in evaluations}
        | {lesson.teacher_id}
    )
    comments = sorted(
        ((c, e) for e in evaluations for c in e.comments),
        key=lambda ce: (ce[0].offset_ms, ce[0].id),
    )
    rooms = await _names(
        session, Classroom, Classroom.name, {c.classroom_id for c, _ in comments if c.classroom_id}
    )
    course = await session.get(Course, lesson.course_id) if lesson.course_id else None
    totals = [float(total(e)) for e in evaluations]
    return LessonReport(
        lesson=LessonSummary(
            id=lesson.id, title=lesson.title, course=course.name if course else None,
            teacher_id=lesson.teacher_id, teacher_name=people.get(lesson.teacher_id, ""),
            state=lesson.state.value, starts_at=lesson.starts_at,
            actual_start=lesson.actual_start, actual_end=lesson.actual_end,
        ),
        criteria=criteria_stats(criteria, evaluations),
        evaluations=[
            EvaluationRow(
                evaluation_id=e.id, evaluator_id=e.evaluator_id,
                evaluator_name=people.get(e.evaluator_id, ""), scores=e.scores,
                total=total(e), summary=e.summary,
            )
            for e in evaluations
        ],
        evaluation_count=len(evaluations),
        mean_total=_mean(totals),
        max_total=max_total(criteria),
        comments=[
            CommentRow(
                offset_ms=c.offset_ms, evaluator_id=e.evaluator_id,
                evaluator_name=people.get(e.evaluator_id, ""), classroom_id=c.classroom_id,
                classroom_name=rooms.get(c.classroom_id) if c.classroom_id else None, text=c.text,
            )
            for c, e in comments
        ],
    )


@router.get("/api/users/{user_id}/evaluation-report", response_model=TeacherReport)
async def teacher_report(
    user_id: int,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    from_: datetime | None = Query(None, alias="from"),
    to: datetime | None = None,
) -> TeacherReport:
    """Every evaluation of the teacher's lessons that start in [from, to)."""
    teacher = await session.get(User, user_id)
    if teacher is None:
        raise NotFound("user not found", {"user_id": user_id})
    if p.user_id != user_id and not is_admin_over(
        p, await unit_path(session, teacher.org_unit_id)
    ):
        raise PermissionDenied("a teacher's report is for the teacher and admins in scope")
    for bound in (from_, to):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed("from/to must carry a timezone, e.g. 2026-03-02T00:00:00Z")
    if from_ is not None and to is not None:
        if to <= from_:
            raise ValidationFailed("to must be after from")
        if (to - from_).days > settings.supervision.max_range_days:
            raise ValidationFailed(
                f"at most {settings.supervision.max_range_days} days",
                {"max_range_days": settings.supervision.max_range_days},
            )
    query = sa.select(Lesson).where(Lesson.teacher_id == user_id)
    if from_ is not None:
        query = query.where(Lesson.starts_at >= from_)
    if to is not None:
        query = query.where(Lesson.starts_at < to)
    lessons = list((await session.scalars(query.order_by(Lesson.starts_at, Lesson.id))).all())
    by_lesson: dict[int, list[Evaluation]] = {x.id: [] for x in lessons}
    if lessons:
        rows = await session.scalars(
            sa.select(Evaluation)
            .where(Evaluation.lesson_id.in_(list(by_lesson)))
            .order_by(Evaluation.id)
        )
        for e in rows.all():
            by_lesson[e.lesson_id].append(e)
    everything = [e for x in lessons for e in by_lesson[x.id]]
    rows_out = []
    pooled_criteria: list[dict[str, Any]] = []
    for lesson in lessons:
        evs = by_lesson[lesson.id]
        crit = next((list(e.rubric) for e in evs if e.rubric), [])
        for c in crit:
            if all(c["key"] != k["key"] for k in pooled_criteria):
                pooled_criteria.append(c)
        rows_out.append(
            TeacherLessonRow(
                lesson_id=lesson.id, title=lesson.title, starts_at=lesson.starts_at,
                evaluation_count=len(evs), mean_total=_mean([float(total(e)) for e in evs]),
                max_total=max_total(crit),
            )
        )
    return TeacherReport(
        teacher_id=teacher.id, teacher_name=teacher.display_name, from_=from_, to=to,
        lesson_count=len(lessons), evaluation_count=len(everything),
        mean_total=_mean([float(total(e)) for e in everything]),
        criteria=criteria_stats(pooled_criteria, everything),
        lessons=rows_out,
    )


@router.get("/api/rubrics/effective", response_model=UnitRubricPublic)
async def rubric_for(
    session: SessionDep,
    p: CurrentPrincipal,
    lesson_id: int | None = None,
    org_unit_id: int | None = None,
) -> Rubric:
    """The rubric a lesson (or a unit's lessons) is scored on."""
    if (lesson_id is None) == (org_unit_id is None):
        raise ValidationFailed("give exactly one of lesson_id or org_unit_id")
    if lesson_id is not None:
        lesson = await get_visible_lesson(session, p, lesson_id)
        path = (await lesson_places(session, lesson)).main_path
    else:
        assert org_unit_id is not None
        path = await unit_path(session, org_unit_id)
        if not path.startswith(p.org_path):
            raise PermissionDenied("org unit is outside your scope", {"org_unit_id": org_unit_id})
    rubric = await effective_rubric(session, path)
    if rubric is None:
        raise NotFound("no rubric applies; create one", {"path": path})
    return rubric


@router.post(
    "/api/org-units/{unit_id}/rubrics", response_model=UnitRubricPublic,
    status_code=status.HTTP_201_CREATED,
)
async def create_unit_rubric(
    unit_id: int, body: RubricCreate, session: SessionDep, p: CurrentPrincipal
) -> Rubric:
    """An admin gives a unit in scope its own rubric (its lessons and those below use it)."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    require_admin_over(p, unit.path)
    await ensure_absent(
        session, sa.select(Rubric.id).where(Rubric.name == body.name),
        "a rubric with this name exists", {"name": body.name},
    )
    rubric = Rubric(
        name=body.name, criteria=[c.model_dump() for c in body.criteria], org_unit_id=unit_id
    )
    session.add(rubric)
    await flush_unique(session, "a rubric with this name exists", {"name": body.name})
    audit(session, p, "rubric.created", f"rubric:{rubric.id}", {"org_unit_id": unit_id})
    return rubric
