"""Scope rules that need no database: path prefixes and room roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.auth import Principal
from server.db.models import Lesson, Role
from server.errors import PermissionDenied
from server.policy import (
    LessonPlaces,
    is_admin_over,
    require_can_run_lesson,
    require_strictly_below,
    room_role_for,
)
from server.tokens import RoomRole

COUNTY = "/1/2/3/"
PLACES = LessonPlaces(main_path="/1/2/3/4/5/", receiver_paths={11: "/1/2/3/4/6/", 12: "/1/2/9/10/"})


def _p(
    role: Role, path: str = COUNTY, user_id: int | None = 7, classroom_id: int | None = None
) -> Principal:
    return Principal(
        role=role,
        org_unit_id=int(path.strip("/").split("/")[-1]),
        org_path=path,
        name="x",
        user_id=user_id,
        classroom_id=classroom_id,
    )


def _lesson() -> Lesson:
    t = datetime(2030, 1, 1, tzinfo=UTC)
    return Lesson(id=1, title="x", teacher_id=42, main_classroom_id=10, starts_at=t, ends_at=t)


def test_admin_scope_is_a_path_prefix_not_a_string_prefix() -> None:
    admin = _p(Role.ADMIN, "/1/2/")
    assert is_admin_over(admin, "/1/2/3/")
    assert not is_admin_over(admin, "/1/23/")  # trailing slash keeps /1/2 from matching /1/23
    assert not is_admin_over(_p(Role.TEACHER, "/1/2/"), "/1/2/3/")


def test_admin_cannot_edit_own_unit() -> None:
    with pytest.raises(PermissionDenied):
        require_strictly_below(_p(Role.ADMIN), COUNTY)
    require_strictly_below(_p(Role.ADMIN), COUNTY + "4/")


@pytest.mark.parametrize(
    ("principal", "role"),
    [
        (_p(Role.TEACHER, user_id=42), RoomRole.TEACHER),
        (_p(Role.CLASSROOM, user_id=None, classroom_id=10), RoomRole.TEACHER),
        (_p(Role.CLASSROOM, user_id=None, classroom_id=12), RoomRole.CLASSROOM),
        (_p(Role.EVALUATOR), RoomRole.EVALUATOR),
        (_p(Role.ADMIN), RoomRole.OBSERVER),
        (_p(Role.ADMIN, "/1/2/9/"), RoomRole.OBSERVER),  # admin of a receiving classroom only
    ],
)
def test_room_role_follows_principal(principal: Principal, role: RoomRole) -> None:
    lesson = _lesson()
    lesson.receivers = []  # ids come from places in this pure test
    assert room_role_for(principal, lesson, PLACES) is role


@pytest.mark.parametrize(
    "principal",
    [
        _p(Role.TEACHER, user_id=43),
        _p(Role.RESEARCHER),
        _p(Role.CLASSROOM, user_id=None, classroom_id=99),
        _p(Role.ADMIN, "/1/7/"),
    ],
)
def test_no_room_role_is_403(principal: Principal) -> None:
    with pytest.raises(PermissionDenied):
        room_role_for(principal, _lesson(), PLACES)


def test_only_teacher_or_admin_over_main_classroom_runs_the_lesson() -> None:
    lesson = _lesson()
    require_can_run_lesson(_p(Role.TEACHER, user_id=42), lesson, PLACES)
    require_can_run_lesson(_p(Role.ADMIN), lesson, PLACES)
    with pytest.raises(PermissionDenied):
        require_can_run_lesson(_p(Role.ADMIN, "/1/2/9/"), lesson, PLACES)
    with pytest.raises(PermissionDenied):
        require_can_run_lesson(_p(Role.EVALUATOR), lesson, PLACES)
