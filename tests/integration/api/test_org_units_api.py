"""Org unit tree, schools and users seen through scope."""

from __future__ import annotations

from tests.integration.api.conftest import World


async def test_county_admin_cannot_see_other_county_schools(world: World) -> None:
    r = await world.request("county_admin", "GET", "/api/schools")
    names = {s["name"] for s in r.json()["items"]}
    assert "多伦县第二小学" not in names
    assert {"正蓝旗第一小学", "上都镇中心小学"} <= names
    r = await world.request("admin", "GET", "/api/schools")
    assert r.json()["total"] == 5


async def test_tree_starts_at_home_unit(world: World) -> None:
    r = await world.request("county_admin", "GET", "/api/org-units/tree")
    tree = r.json()
    assert tree["id"] == world.seed.county_id and tree["level"] == "county"
    (township,) = tree["children"]
    assert township["name"] == "上都镇"
    assert len(township["children"]) == 4
    province = (await world.request("admin", "GET", "/api/org-units/tree")).json()
    assert [c["name"] for c in province["children"]] == ["锡林郭勒盟"]
    assert {c["name"] for c in province["children"][0]["children"]} == {"正蓝旗", "多伦县"}


async def test_unit_paths_nest(world: World) -> None:
    r = await world.request("admin", "GET", f"/api/org-units/{world.seed.main_school_id}")
    unit = r.json()
    county = (await world.request("admin", "GET", f"/api/org-units/{world.seed.county_id}")).json()
    assert unit["path"].startswith(county["path"]) and unit["path"].endswith(f"/{unit['id']}/")


async def test_admin_lists_only_users_in_scope_others_only_themselves(world: World) -> None:
    other = world.seed.accounts["other_teacher"].user_id
    county = {
        u["id"] for u in (await world.request("county_admin", "GET", "/api/users")).json()["items"]
    }
    assert world.seed.accounts["teacher"].user_id in county and other not in county
    mine = (await world.request("teacher", "GET", "/api/users")).json()
    assert [u["login"] for u in mine["items"]] == ["teacher"]


async def test_new_user_can_log_in(world: World) -> None:
    r = await world.request(
        "county_admin",
        "POST",
        "/api/users",
        json={
            "login": "sarangerel",
            "display_name": "萨仁格日勒",
            "password": "a-long-password",
            "role": "teacher",
            "org_unit_id": world.seed.village_school_ids[1],
        },
    )
    assert r.status_code == 201 and "password" not in r.json()
    r = await world.client.post(
        "/api/auth/login", json={"login": "sarangerel", "password": "a-long-password"}
    )
    assert r.status_code == 200


async def test_county_admin_cannot_create_admin_above_own_unit(world: World) -> None:
    r = await world.request(
        "county_admin",
        "POST",
        "/api/users",
        json={
            "login": "boss",
            "display_name": "x",
            "password": "a-long-password",
            "role": "admin",
            "org_unit_id": world.seed.city_id,
        },
    )
    assert r.status_code == 403


async def test_classrooms_of_a_school_and_courses(world: World) -> None:
    r = await world.request(
        "teacher", "GET", "/api/classrooms", params={"school_id": world.seed.main_school_id}
    )
    assert [c["kind"] for c in r.json()["items"]] == ["main"]
    r = await world.request("teacher", "GET", "/api/courses")
    assert r.json()["total"] == 3
    r = await world.request(
        "county_admin",
        "POST",
        "/api/courses",
        json={"school_id": world.seed.main_school_id, "name": "三年级数学"},
    )
    assert r.status_code == 409


async def test_changing_own_password_needs_the_current_one(world: World) -> None:
    uid = world.seed.accounts["teacher"].user_id
    r = await world.request(
        "teacher", "PATCH", f"/api/users/{uid}", json={"password": "new-password-1"}
    )
    assert r.status_code == 403
    r = await world.request(
        "teacher",
        "PATCH",
        f"/api/users/{uid}",
        json={"password": "new-password-1", "current_password": "pw-teacher-12345"},
    )
    assert r.status_code == 200
    login = await world.client.post(
        "/api/auth/login", json={"login": "teacher", "password": "new-password-1"}
    )
    assert login.status_code == 200
    # An admin resets a password without knowing it.
    r = await world.request(
        "county_admin", "PATCH", f"/api/users/{uid}", json={"password": "reset-by-admin"}
    )
    assert r.status_code == 200


async def test_admin_cannot_book_classrooms_of_another_county(world: World) -> None:
    from datetime import timedelta

    from server.db.models import utcnow

    start = utcnow() + timedelta(days=4)
    r = await world.request(
        "county_admin",
        "POST",
        "/api/lessons",
        json={
            "title": "跨县",
            "teacher_id": world.seed.accounts["teacher"].user_id,
            "main_classroom_id": world.seed.main_classroom_id,
            "receiving_classroom_ids": [world.seed.other_classroom_id],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=40)).isoformat(),
        },
    )
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"classroom_ids": [world.seed.other_classroom_id]}
