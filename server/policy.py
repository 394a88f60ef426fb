"""Who may see and do what: every scope rule in one module.

Routes call these functions instead of writing their own `if role == ...`.
Two kinds of rules:
- *visibility* as SQL expressions (`visible_units`, `visible_lessons`, ...), so a
  list endpoint filters in the database and a get endpoint uses the same rule;
- *actions* as `require_*` functions that raise `PermissionDenied`.

Scope is the materialized path of the principal's home unit: an admin of
"/1/4/" manages every unit whose path starts with "/1/4/".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db.models import (
    Classroom,
    Course,
    Evaluation,
    EvaluationAssignment,
    Lesson,
    OrgUnit,
    Role,
    User,
    lesson_receiver,
)
from server.errors import NotFound, PermissionDenied
from server.tokens import RoomRole

# --- building blocks -----------------------------------------------------------------------


def is_admin_over(p: Principal, path: str) -> bool:
    return p.role is Role.ADMIN and path.startswith(p.org_path)


def _units_under(prefix: str) -> sa.Select[Any]:
    return sa.select(OrgUnit.id).where(OrgUnit.path.startswith(prefix, autoescape=True))


def _classrooms_under(prefix: str) -> sa.Select[Any]:
    return sa.select(Classroom.id).where(Classroom.school_id.in_(_units_under(prefix)))


def _lessons_under(prefix: str) -> sa.ColumnElement[bool]:
    """Lessons whose main classroom or any receiving classroom lies under `prefix`."""
    in_scope = _classrooms_under(prefix)
    return sa.or_(
        Lesson.main_classroom_id.in_(in_scope),
        Lesson.id.in_(
            sa.select(lesson_receiver.c.lesson_id).where(
                lesson_receiver.c.classroom_id.in_(in_scope)
            )
        ),
    )


def _lessons_of_classroom(classroom_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(
        Lesson.main_classroom_id == classroom_id,
        Lesson.id.in_(
            sa.select(lesson_receiver.c.lesson_id).where(
                lesson_receiver.c.classroom_id == classroom_id
            )
        ),
    )


# --- visibility (SQL) ----------------------------------------------------------------------


def visible_units(p: Principal) -> sa.ColumnElement[bool]:
    """Everyone reads the subtree of their home unit; only admins change it."""
    return OrgUnit.path.startswith(p.org_path, autoescape=True)


def visible_classrooms(p: Principal) -> sa.ColumnElement[bool]:
    if p.role is Role.CLASSROOM:
        return Classroom.id == p.classroom_id
    return Classroom.school_id.in_(_units_under(p.org_path))


def visible_users(p: Principal) -> sa.ColumnElement[bool]:
    if p.role is Role.ADMIN:
        return User.org_unit_id.in_(_units_under(p.org_path))
    return User.id == (p.user_id if p.user_id is not None else -1)


def visible_courses(p: Principal) -> sa.ColumnElement[bool]:
    return Course.school_id.in_(_units_under(p.org_path))


def visible_lessons(p: Principal) -> sa.ColumnElement[bool]:
    if p.role is Role.ADMIN:
        return _lessons_under(p.org_path)
    if p.role is Role.CLASSROOM:
        return _lessons_of_classroom(p.classroom_id or -1)
    if p.role in (Role.TEACHER, Role.RESEARCHER):
        # Own lessons, plus the timetable of the teacher's own school (read only).
        return sa.or_(
            Lesson.teacher_id == p.user_id,
            Lesson.main_classroom_id.in_(_classrooms_under(p.org_path)),
        )
    if p.role is Role.EVALUATOR:
        assigned = sa.select(EvaluationAssignment.lesson_id).where(
            EvaluationAssignment.evaluator_id == p.user_id
        )
        return sa.or_(Lesson.id.in_(assigned), _lessons_under(p.org_path))
    return sa.false()


def visible_evaluations(p: Principal) -> sa.ColumnElement[bool]:
    """An evaluator reads their own; admins the ones in scope; a teacher those of their lessons."""
    if p.role is Role.EVALUATOR:
        return Evaluation.evaluator_id == p.user_id
    if p.role is Role.ADMIN:
        return Evaluation.lesson_id.in_(sa.select(Lesson.id).where(_lessons_under(p.org_path)))
    if p.role in (Role.TEACHER, Role.RESEARCHER):
        return Evaluation.lesson_id.in_(sa.select(Lesson.id).where(Lesson.teacher_id == p.user_id))
    return sa.false()


# --- lookups that apply visibility ---------------------------------------------------------


async def get_visible_lesson(session: AsyncSession, p: Principal, lesson_id: int) -> Lesson:
    """The lesson if it exists (404) and the principal may see it (403)."""
    lesson = await session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("lesson not found", {"lesson_id": lesson_id})
    visible = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Lesson)
        .where(Lesson.id == lesson_id, visible_lessons(p))
    )
    if not visible:
        raise PermissionDenied("lesson is outside your scope", {"lesson_id": lesson_id})
    return lesson


async def unit_path(session: AsyncSession, unit_id: int) -> str:
    path = await session.scalar(sa.select(OrgUnit.path).where(OrgUnit.id == unit_id))
    if path is None:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    return path


async def classroom_path(session: AsyncSession, classroom_id: int) -> str:
    path = await session.scalar(
        sa.select(OrgUnit.path)
        .join(Classroom, Classroom.school_id == OrgUnit.id)
        .where(Classroom.id == classroom_id)
    )
    if path is None:
        raise NotFound("classroom not found", {"classroom_id": classroom_id})
    return path


async def classroom_paths(session: AsyncSession, classroom_ids: list[int]) -> dict[int, str]:
    if not classroom_ids:
        return {}
    rows = await session.execute(
        sa.select(Classroom.id, OrgUnit.path)
        .join(OrgUnit, Classroom.school_id == OrgUnit.id)
        .where(Classroom.id.in_(classroom_ids))
    )
    return dict(rows.tuples().all())


# --- actions -------------------------------------------------------------------------------


def require_admin_over(p: Principal, path: str, what: str = "unit") -> None:
    if not is_admin_over(p, path):
        raise PermissionDenied(f"only an admin whose scope contains this {what} may do that")


def require_admin(p: Principal) -> None:
    if p.role is not Role.ADMIN:
        raise PermissionDenied("admins only")


def require_strictly_below(p: Principal, path: str) -> None:
    """An admin edits units under their own, never their own unit or above."""
    require_admin_over(p, path)
    if path == p.org_path:
        raise PermissionDenied("an admin cannot change or delete their own unit")


def require_can_see_user(p: Principal, user_unit_path: str, user_id: int) -> None:
    if p.user_id == user_id or is_admin_over(p, user_unit_path):
        return
    raise PermissionDenied("user is outside your scope", {"user_id": user_id})


@dataclass(frozen=True)
class LessonPlaces:
    """Where a lesson happens: the org paths of its classrooms (for scope checks)."""

    main_path: str
    receiver_paths: dict[int, str]


async def lesson_places(session: AsyncSession, lesson: Lesson) -> LessonPlaces:
    ids = [lesson.main_classroom_id, *lesson.receiving_classroom_ids]
    rows = await session.execute(
        sa.select(Classroom.id, OrgUnit.path)
        .join(OrgUnit, Classroom.school_id == OrgUnit.id)
        .where(Classroom.id.in_(ids))
    )
    paths = dict(rows.tuples().all())
    return LessonPlaces(
        main_path=paths[lesson.main_classroom_id],
        receiver_paths={cid: paths[cid] for cid in lesson.receiving_classroom_ids},
    )


def require_can_schedule(p: Principal, teacher_id: int, main_path: str) -> None:
    """Admins schedule in their scope; a teacher or researcher schedules their own lessons."""
    if is_admin_over(p, main_path):
        return
    if (
        p.role in (Role.TEACHER, Role.RESEARCHER)
        and p.user_id == teacher_id
        and main_path.startswith(p.org_path)
    ):
        return
    raise PermissionDenied("you may not schedule this lesson")


def require_classrooms_in_scope(p: Principal, paths: dict[int, str]) -> None:
    """Only classrooms under the scheduler's unit may be booked (no blocking other counties)."""
    outside = sorted(cid for cid, path in paths.items() if not path.startswith(p.org_path))
    if outside:
        raise PermissionDenied(
            "receiving classrooms outside your scope", {"classroom_ids": outside}
        )


def require_can_run_lesson(p: Principal, lesson: Lesson, places: LessonPlaces) -> None:
    """Start, end, move or cancel: the lesson's teacher, or an admin over its main classroom."""
    if p.user_id is not None and p.user_id == lesson.teacher_id:
        return
    if is_admin_over(p, places.main_path):
        return
    raise PermissionDenied("only the lesson's teacher or an admin in scope may do that")


def room_role_for(p: Principal, lesson: Lesson, places: LessonPlaces) -> RoomRole:
    """The role a principal takes in the lesson's room (PermissionDenied when none)."""
    if p.user_id is not None and p.user_id == lesson.teacher_id:
        return RoomRole.TEACHER
    if p.role is Role.CLASSROOM and p.classroom_id is not None:
        if p.classroom_id == lesson.main_classroom_id:
            return RoomRole.TEACHER
        if p.classroom_id in places.receiver_paths:
            return RoomRole.CLASSROOM
    if p.role is Role.EVALUATOR:
        return RoomRole.EVALUATOR  # visibility (assigned or in unit) was checked by the caller
    if p.role is Role.ADMIN and (
        is_admin_over(p, places.main_path)
        or any(is_admin_over(p, path) for path in places.receiver_paths.values())
    ):
        return RoomRole.OBSERVER
    raise PermissionDenied("you have no role in this lesson")


def require_lesson_classroom(p: Principal, lesson: Lesson) -> int:
    """Attendance is reported by a classroom of the lesson, about itself."""
    cid = p.classroom_id
    if (
        p.role is Role.CLASSROOM
        and cid is not None
        and (cid == lesson.main_classroom_id or cid in lesson.receiving_classroom_ids)
    ):
        return cid
    raise PermissionDenied("only a classroom of this lesson may report its attendance")


def require_evaluator(p: Principal) -> None:
    if p.role is not Role.EVALUATOR:
        raise PermissionDenied("only evaluators write evaluations")
