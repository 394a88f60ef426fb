"""The audit log: logins (success and failure), permission changes, deletions and exports
are written through server.audit and read back by admins in scope (SQLite and PG)."""

from __future__ import annotations

from typing import Any

from tests.integration.api.conftest import World, password_for


async def audit_of(world: World, who: str, **params: Any) -> list[dict[str, Any]]:
    r = await world.request(who, "GET", "/api/audit", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def login(world: World, name: str, password: str) -> int:
    r = await world.client.post("/api/auth/login", json={"login": name, "password": password})
    return r.status_code


async def test_logins_are_audited_and_scoped(world: World) -> None:
    s = world.seed
    county_admin = s.accounts["county_admin"]
    assert await login(world, "county_admin", password_for("county_admin")) == 200
    assert await login(world, "county_admin", "wrong-password") == 401
    assert await login(world, "nobody-at-all", "whatever-pw") == 401
    assert await login(world, "other_county_admin", "wrong-password") == 401

    mine = await audit_of(world, "county_admin", action="auth.")
    assert [(e["action"], e["actor"]) for e in mine] == [
        ("auth.login_failed", f"user-{county_admin.user_id}"),
        ("auth.login", f"user-{county_admin.user_id}"),
    ]
    assert all(e["scope_path"].endswith(f"/{s.county_id}/") for e in mine)

    province = await audit_of(world, "admin", action="auth.login_failed")
    assert {e["target"] for e in province} == {
        "login:county_admin",
        "login:nobody-at-all",
        "login:other_county_admin",
    }
    unknown = next(e for e in province if e["target"] == "login:nobody-at-all")
    assert unknown["actor"] == "anonymous" and unknown["scope_path"] == ""

    other = await audit_of(world, "other_county_admin", action="auth.")
    assert [e["target"] for e in other] == ["login:other_county_admin"]


async def test_changes_deletions_and_filters(world: World) -> None:
    s = world.seed
    teacher = s.accounts["teacher"].user_id
    r = await world.request(
        "county_admin", "PATCH", f"/api/users/{teacher}", json={"is_active": False}
    )
    assert r.status_code == 200
    created = await world.request(
        "county_admin",
        "POST",
        "/api/courses",
        json={"school_id": s.main_school_id, "name": "临时课程"},
    )
    assert created.status_code == 201, created.text
    course_id = created.json()["id"]
    assert (
        await world.request("county_admin", "DELETE", f"/api/courses/{course_id}")
    ).status_code == 204

    entries = await audit_of(world, "county_admin")
    actions = [e["action"] for e in entries]
    assert actions[:3] == ["course.deleted", "course.created", "user.updated"]
    assert (
        entries[2]["details"] == {"is_active": False} and entries[2]["target"] == f"user:{teacher}"
    )

    only_courses = await audit_of(world, "county_admin", action="course.")
    assert [e["action"] for e in only_courses] == ["course.deleted", "course.created"]
    exact = await audit_of(
        world, "county_admin", target=f"course:{course_id}", action="course.deleted"
    )
    assert len(exact) == 1
    assert await audit_of(world, "other_county_admin", action="course.") == []

    page = await world.request("admin", "GET", "/api/audit", params={"limit": 1})
    assert page.status_code == 200 and page.json()["total"] >= 3 and len(page.json()["items"]) == 1


async def test_audit_needs_an_admin_and_good_bounds(world: World) -> None:
    assert (await world.request("teacher", "GET", "/api/audit")).status_code == 403
    assert (await world.request("anonymous", "GET", "/api/audit")).status_code == 401
    naive = await world.request(
        "admin", "GET", "/api/audit", params={"from": "2026-03-02T00:00:00"}
    )
    assert naive.status_code == 422
    assert "timezone" in naive.json()["error"]["message"]
    assert (
        await world.request("admin", "GET", "/api/audit", params={"limit": 0})
    ).status_code == 422


async def test_an_entry_belongs_to_the_target_unit(world: World) -> None:
    """The province admin deactivates a county teacher: the county admin reads the entry."""
    s = world.seed
    teacher = s.accounts["teacher"].user_id
    r = await world.request("admin", "PATCH", f"/api/users/{teacher}", json={"is_active": False})
    assert r.status_code == 200
    county = await audit_of(world, "county_admin", action="user.updated")
    assert [(e["actor"], e["target"]) for e in county] == [
        (f"user-{s.accounts['admin'].user_id}", f"user:{teacher}")
    ]
    assert await audit_of(world, "other_county_admin", action="user.updated") == []
