"""Bad input gets a typed 4xx in the common error body and changes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from server.db.models import Classroom, Lesson, OrgUnit, User
from tests.integration.api.conftest import World


async def _count(world: World, model: type) -> int:
    async with world.db.session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


async def test_malformed_json_is_422_and_creates_nothing(world: World) -> None:
    before = await _count(world, Classroom)
    r = await world.client.post(
        "/api/classrooms",
        content=b'{"school_id": 1, "name": ',
        headers={**world.headers("admin"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    _assert_error(r.json(), "validation_failed")
    assert await _count(world, Classroom) == before


async def test_unknown_field_is_422_naming_it(world: World) -> None:
    before = await _count(world, Classroom)
    r = await world.request(
        "admin",
        "POST",
        "/api/classrooms",
        json={
            "school_id": world.seed.main_school_id,
            "name": "新教室",
            "kind": "main",
            "colour": "red",
        },
    )
    assert r.status_code == 422
    _assert_error(r.json(), "validation_failed")
    assert ["body", "colour"] in [d["loc"] for d in r.json()["error"]["details"]]
    assert await _count(world, Classroom) == before


async def test_wrong_types_are_422(world: World) -> None:
    before = await _count(world, Lesson)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json={
            "title": "x",
            "teacher_id": "teacher",
            "main_classroom_id": [1],
            "starts_at": "tomorrow",
            "ends_at": 5,
        },
    )
    assert r.status_code == 422
    _assert_error(r.json(), "validation_failed")
    bad = {tuple(d["loc"]) for d in r.json()["error"]["details"]}
    assert {("body", "teacher_id"), ("body", "main_classroom_id"), ("body", "starts_at")} <= bad
    assert await _count(world, Lesson) == before


async def test_wrong_enum_and_query_types_are_422(world: World) -> None:
    r = await world.request("admin", "GET", "/api/lessons", params={"state": "paused"})
    assert r.status_code == 422
    r = await world.request("admin", "GET", "/api/lessons", params={"limit": 0})
    assert r.status_code == 422
    r = await world.request("admin", "GET", "/api/lessons/not-a-number")
    assert r.status_code == 422
    _assert_error(r.json(), "validation_failed")


async def test_unknown_ids_are_404(world: World) -> None:
    for url in (
        "/api/lessons/999999",
        "/api/classrooms/999999",
        "/api/schools/999999",
        "/api/users/999999",
        "/api/recordings/999999",
        "/api/evaluations/999999",
    ):
        r = await world.request("admin", "GET", url)
        assert r.status_code == 404, url
        _assert_error(r.json(), "not_found")


async def test_out_of_scope_id_is_403_and_unchanged(world: World) -> None:
    school = world.seed.main_school_id
    r = await world.request(
        "other_county_admin", "PATCH", f"/api/schools/{school}", json={"name": "改名"}
    )
    assert r.status_code == 403
    _assert_error(r.json(), "permission_denied")
    async with world.db.session() as session:
        assert (await session.get(OrgUnit, school)).name == "正蓝旗第一小学"  # type: ignore[union-attr]


async def test_duplicate_login_is_409(world: World) -> None:
    before = await _count(world, User)
    r = await world.request(
        "admin",
        "POST",
        "/api/users",
        json={
            "login": "teacher",
            "display_name": "重名",
            "password": "long-enough-1",
            "role": "teacher",
            "org_unit_id": world.seed.main_school_id,
        },
    )
    assert r.status_code == 409
    _assert_error(r.json(), "conflict")
    assert await _count(world, User) == before


async def test_duplicate_classroom_name_in_a_school_is_409_but_fine_elsewhere(world: World) -> None:
    body = {"school_id": world.seed.main_school_id, "name": "主讲教室", "kind": "main"}
    r = await world.request("admin", "POST", "/api/classrooms", json=body)
    assert r.status_code == 409
    assert r.json()["error"]["details"] == {
        "school_id": world.seed.main_school_id,
        "name": "主讲教室",
    }
    body["school_id"] = world.seed.village_school_ids[0]
    assert (await world.request("admin", "POST", "/api/classrooms", json=body)).status_code == 201


async def test_duplicate_school_name_under_one_township_is_409(world: World) -> None:
    r = await world.request(
        "county_admin",
        "POST",
        "/api/schools",
        json={"name": "上都镇中心小学", "parent_id": world.seed.township_id},
    )
    assert r.status_code == 409


async def test_delete_school_with_lessons_is_409_and_keeps_it(world: World) -> None:
    school = world.seed.village_school_ids[0]  # its classroom receives today's lessons
    r = await world.request("county_admin", "DELETE", f"/api/schools/{school}")
    assert r.status_code == 409
    _assert_error(r.json(), "conflict")
    assert r.json()["error"]["details"]["lessons"] == 3
    assert (await world.request("county_admin", "GET", f"/api/schools/{school}")).status_code == 200


async def test_delete_classroom_with_lessons_is_409(world: World) -> None:
    room = world.seed.main_classroom_id
    r = await world.request("admin", "DELETE", f"/api/classrooms/{room}")
    assert r.status_code == 409
    assert (await world.request("admin", "GET", f"/api/classrooms/{room}")).status_code == 200


async def test_delete_empty_school_removes_it_and_its_classrooms(world: World) -> None:
    r = await world.request(
        "county_admin",
        "POST",
        "/api/schools",
        json={"name": "新教学点", "parent_id": world.seed.township_id},
    )
    school = r.json()["id"]
    r = await world.request(
        "county_admin",
        "POST",
        "/api/classrooms",
        json={"school_id": school, "name": "接收教室", "kind": "receiving"},
    )
    room = r.json()["id"]
    assert (
        await world.request("county_admin", "DELETE", f"/api/schools/{school}")
    ).status_code == 204
    assert (await world.request("admin", "GET", f"/api/classrooms/{room}")).status_code == 404


async def test_admin_cannot_delete_own_unit(world: World) -> None:
    r = await world.request("county_admin", "DELETE", f"/api/org-units/{world.seed.county_id}")
    assert r.status_code == 403


async def test_school_under_a_school_is_422(world: World) -> None:
    r = await world.request(
        "admin",
        "POST",
        "/api/org-units",
        json={"name": "分校", "level": "school", "parent_id": world.seed.main_school_id},
    )
    assert r.status_code == 422
