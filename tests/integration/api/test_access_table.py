"""The allow/deny table: role × endpoint → status, on the seeded demo world.

Actors: the province admin, the county admin (正蓝旗, where the lessons are), the
admin of the neighbouring county, the lesson's teacher, a teacher of the other
county, the county evaluator, a researcher of the main school, the main and a
receiving classroom's device, a classroom device of the other county, and nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from server.db.models import utcnow
from tests.integration.api.conftest import World

ACTORS = [
    "admin",
    "county_admin",
    "other_county_admin",
    "teacher",
    "other_teacher",
    "evaluator",
    "researcher",
    "main_device",
    "receiving_device",
    "other_device",
    "anonymous",
]

Request = tuple[str, str, dict[str, Any] | None]
ENDPOINTS: dict[str, Callable[[World], Request]] = {
    "get main school": lambda w: ("GET", f"/api/schools/{w.seed.main_school_id}", None),
    "rename village school": lambda w: (
        "PATCH",
        f"/api/schools/{w.seed.village_school_ids[0]}",
        {"name": "新名字小学"},
    ),
    "create classroom": lambda w: (
        "POST",
        "/api/classrooms",
        {"school_id": w.seed.main_school_id, "name": "第二录播室", "kind": "main"},
    ),
    "pairing code": lambda w: (
        "POST",
        f"/api/classrooms/{w.seed.receiving_classroom_ids[0]}/pairing-code",
        None,
    ),
    "create teacher": lambda w: (
        "POST",
        "/api/users",
        {
            "login": "new_teacher",
            "display_name": "新老师",
            "password": "long-enough-1",
            "role": "teacher",
            "org_unit_id": w.seed.main_school_id,
        },
    ),
    "get teacher": lambda w: ("GET", f"/api/users/{w.seed.accounts['teacher'].user_id}", None),
    "get lesson": lambda w: ("GET", f"/api/lessons/{w.seed.lesson_ids[0]}", None),
    "start lesson": lambda w: ("POST", f"/api/lessons/{w.seed.lesson_ids[0]}/start", None),
    "report attendance": lambda w: (
        "POST",
        f"/api/lessons/{w.seed.lesson_ids[0]}/attendance",
        {"pupils_present": 7},
    ),
    "evaluate lesson": lambda w: (
        "POST",
        "/api/evaluations",
        {"lesson_id": w.seed.lesson_ids[0], "summary": "好"},
    ),
    "lesson events": lambda w: ("GET", f"/api/lessons/{w.seed.lesson_ids[0]}/events", None),
    "schedule lesson": lambda w: (
        "POST",
        "/api/lessons",
        {
            "title": "加课",
            "teacher_id": w.seed.accounts["teacher"].user_id,
            "main_classroom_id": w.seed.main_classroom_id,
            "receiving_classroom_ids": [w.seed.receiving_classroom_ids[0]],
            "starts_at": (utcnow() + timedelta(days=3)).isoformat(),
            "ends_at": (utcnow() + timedelta(days=3, minutes=40)).isoformat(),
        },
    ),
}

A, C, OC, T, OT, E, R, MD, RD, OD, N = ACTORS
TABLE: dict[str, dict[str, int]] = {
    "get main school": {
        A: 200,
        C: 200,
        OC: 403,
        T: 200,
        OT: 403,
        E: 200,
        R: 200,
        MD: 200,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "rename village school": {
        A: 200,
        C: 200,
        OC: 403,
        T: 403,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "create classroom": {
        A: 201,
        C: 201,
        OC: 403,
        T: 403,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "pairing code": {
        A: 201,
        C: 201,
        OC: 403,
        T: 403,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "create teacher": {
        A: 201,
        C: 201,
        OC: 403,
        T: 403,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "get teacher": {
        A: 200,
        C: 200,
        OC: 403,
        T: 200,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "get lesson": {
        A: 200,
        C: 200,
        OC: 403,
        T: 200,
        OT: 403,
        E: 200,
        R: 200,
        MD: 200,
        RD: 200,
        OD: 403,
        N: 401,
    },
    "start lesson": {
        A: 200,
        C: 200,
        OC: 403,
        T: 200,
        OT: 403,
        E: 403,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "report attendance": {
        A: 403,
        C: 403,
        OC: 403,
        T: 403,
        OT: 403,
        E: 403,
        R: 403,
        MD: 200,
        RD: 200,
        OD: 403,
        N: 401,
    },
    "evaluate lesson": {
        A: 403,
        C: 403,
        OC: 403,
        T: 403,
        OT: 403,
        E: 201,
        R: 403,
        MD: 403,
        RD: 403,
        OD: 403,
        N: 401,
    },
    "lesson events": {
        A: 200,
        C: 200,
        OC: 403,
        T: 200,
        OT: 403,
        E: 200,
        R: 200,
        MD: 200,
        RD: 200,
        OD: 403,
        N: 401,
    },
}

# A teacher schedules only within the own school: the village classroom is outside it.
TABLE["schedule lesson"] = {
    A: 201, C: 201, OC: 403, T: 403, OT: 403, E: 403, R: 403, MD: 403, RD: 403, OD: 403, N: 401,
}  # fmt: skip

CASES = [(endpoint, actor, code) for endpoint, row in TABLE.items() for actor, code in row.items()]


def _who(world: World, actor: str) -> str:
    devices = {
        "main_device": world.seed.main_classroom_id,
        "receiving_device": world.seed.receiving_classroom_ids[0],
        "other_device": world.seed.other_classroom_id,
    }
    return f"device:{devices[actor]}" if actor in devices else actor


def test_table_covers_every_actor_for_every_endpoint() -> None:
    assert set(TABLE) == set(ENDPOINTS)
    for row in TABLE.values():
        assert set(row) == set(ACTORS)


@pytest.mark.parametrize(
    ("endpoint", "actor", "expected"), CASES, ids=[f"{e}-{a}" for e, a, _ in CASES]
)
async def test_role_scope_allow_deny(
    world: World, endpoint: str, actor: str, expected: int
) -> None:
    method, url, body = ENDPOINTS[endpoint](world)
    response = await world.request(_who(world, actor), method, url, json=body)
    assert response.status_code == expected, response.text
    if expected >= 400:
        error = response.json()["error"]
        assert error["code"] == {401: "unauthenticated", 403: "permission_denied"}[expected]
