"""同步教研 over REST: sessions, invites, joining with `kind="research"`, notes per course."""

from __future__ import annotations

from datetime import timedelta

from server.tokens import verify_room_token
from tests.integration.api.conftest import SECRET, World
from tests.integration.collab.conftest import err, window


async def _session(world: World, who: str = "teacher", **extra: object) -> dict[str, object]:
    body = {"title": "分数的初步认识 · 集体备课", "course_id": world.seed.course_ids[0],
            **window(), **extra}
    r = await world.request(who, "POST", "/api/research", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_host_invites_and_everyone_joins_with_the_right_role(world: World) -> None:
    seed = world.seed
    researcher = seed.accounts["researcher"].user_id
    s = await _session(world, invite_user_ids=[researcher],
                       invite_unit_ids=[seed.village_school_ids[0]])
    assert s["invite_user_ids"] == [researcher]
    assert s["invite_unit_ids"] == [seed.village_school_ids[0]]
    assert s["room"] == f"research-{s['id']}"
    roles = {}
    for who in ("teacher", "researcher", "county_admin"):
        r = await world.request(who, "POST", f"/api/research/{s['id']}/join")
        assert r.status_code == 200, (who, r.text)
        claims = verify_room_token(SECRET, r.json()["token"])
        assert claims.kind == "research" and claims.room == s["room"]
        roles[who] = (claims.role.value, claims.grants.publish, claims.grants.hidden)
    assert roles == {
        "teacher": ("teacher", True, False),
        "researcher": ("researcher", True, False),
        "county_admin": ("observer", False, True),
    }
    # Lists follow the same visibility.
    listed = await world.request("researcher", "GET", "/api/research")
    assert [x["id"] for x in listed.json()] == [s["id"]]
    assert (await world.request("other_teacher", "GET", "/api/research")).json() == []


async def test_research_scope_and_state_errors(world: World) -> None:
    seed = world.seed
    s = await _session(world)
    # Not invited, other county, a device: 403; unknown: 404.
    for who in ("other_teacher", "evaluator", "other_county_admin"):
        err(await world.request(who, "POST", f"/api/research/{s['id']}/join"),
            403, "permission_denied")
    err(await world.request(f"device:{seed.receiving_classroom_ids[0]}", "POST",
                            f"/api/research/{s['id']}/join"), 403, "permission_denied")
    err(await world.request("teacher", "POST", "/api/research/99999/join"), 404, "not_found")
    # A school teacher invites inside the own county only; classroom devices are no invitees.
    err(await world.request("teacher", "POST", "/api/research", json={
        "title": "x", **window(), "invite_user_ids": [seed.accounts["other_teacher"].user_id]}),
        403, "permission_denied")
    err(await world.request("teacher", "POST", "/api/research", json={
        "title": "x", **window(), "invite_unit_ids": [seed.other_school_id]}),
        403, "permission_denied")
    err(await world.request("teacher", "POST", "/api/research", json={
        "title": "x", **window(), "invite_user_ids": [999_999]}), 422, "validation_failed")
    err(await world.request("teacher", "POST", "/api/research", json={
        "title": "x", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}),
        422, "validation_failed")
    err(await world.request("teacher", "POST", "/api/research", json={
        "title": "x", "starts_at": "2030-01-01T10:00:00", "ends_at": "2030-01-01T11:00:00"}),
        422, "validation_failed")
    err(await world.request(f"device:{seed.receiving_classroom_ids[0]}", "POST",
                            "/api/research", json={"title": "x", **window()}),
        403, "permission_denied")
    # Too early, then ended: 409.
    later = await _session(world, **window(timedelta(hours=3)))
    err(await world.request("teacher", "POST", f"/api/research/{later['id']}/join"),
        409, "invalid_state")
    err(await world.request("researcher", "POST", f"/api/research/{s['id']}/end"),
        403, "permission_denied")
    r = await world.request("teacher", "POST", f"/api/research/{s['id']}/end")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    err(await world.request("teacher", "POST", f"/api/research/{s['id']}/join"),
        409, "invalid_state")


async def test_notes_belong_to_the_course_and_its_members(world: World) -> None:
    seed = world.seed
    course = seed.course_ids[0]
    url = f"/api/courses/{course}/notes"
    r = await world.request("teacher", "POST", url,
                            json={"title": "教学重点", "body": "分数的意义；平均分。"})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["author_id"] == seed.accounts["teacher"].user_id
    # Teachers of the course's school and admins over it read; others do not.
    for who in ("researcher", "county_admin", "admin"):
        r = await world.request(who, "GET", url)
        assert r.status_code == 200 and [n["id"] for n in r.json()] == [note["id"]], who
    for who in ("other_teacher", "other_county_admin", "evaluator"):
        err(await world.request(who, "GET", url), 403, "permission_denied")
    err(await world.request("teacher", "GET", "/api/courses/99999/notes"), 404, "not_found")
    # A teacher of another county becomes a member when invited to a session on the course.
    s = await _session(world, who="admin",
                       invite_user_ids=[seed.accounts["other_teacher"].user_id])
    r = await world.request("other_teacher", "GET", url)
    assert r.status_code == 200 and len(r.json()) == 1
    r = await world.request("other_teacher", "POST", url,
                            json={"title": "村小的做法", "session_id": s["id"]})
    assert r.status_code == 201 and r.json()["session_id"] == s["id"]
    # Only the author (or an admin over the school) edits or deletes.
    err(await world.request("researcher", "PATCH", f"/api/notes/{note['id']}",
                            json={"body": "改"}), 403, "permission_denied")
    r = await world.request("teacher", "PATCH", f"/api/notes/{note['id']}",
                            json={"body": "分数的意义；平均分；比较大小。"})
    assert r.status_code == 200 and r.json()["body"].endswith("比较大小。")
    err(await world.request("teacher", "PATCH", f"/api/notes/{note['id']}",
                            json={"title": None}), 422, "validation_failed")
    err(await world.request("teacher", "POST", url, json={"title": "x" * 201}),
        422, "validation_failed")
    err(await world.request("teacher", "POST", url, json={"title": "x", "body": "y" * 20_001}),
        422, "validation_failed")
    r = await world.request("county_admin", "DELETE", f"/api/notes/{note['id']}")
    assert r.status_code == 204
    err(await world.request("teacher", "GET", f"/api/notes/{note['id']}"), 404, "not_found")
