"""同步视讯 over REST: meetings with a host, invited users and units (devices), joining."""

from __future__ import annotations

from server.tokens import verify_room_token
from tests.integration.api.conftest import SECRET, World
from tests.integration.collab.conftest import err, window


async def test_host_invites_units_and_users_who_join_as_participants(world: World) -> None:
    seed = world.seed
    village = seed.village_school_ids[0]
    r = await world.request("county_admin", "POST", "/api/meetings", json={
        "title": "全旗教学工作会", **window(), "invite_unit_ids": [village],
        "invite_user_ids": [seed.accounts["teacher"].user_id]})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["room"] == f"meeting-{m['id']}"
    device = f"device:{seed.receiving_classroom_ids[0]}"  # a classroom of the village school
    seen = {}
    for who in ("county_admin", "teacher", device, "admin"):
        r = await world.request(who, "POST", f"/api/meetings/{m['id']}/join")
        assert r.status_code == 200, (who, r.text)
        c = verify_room_token(SECRET, r.json()["token"])
        assert c.kind == "meeting"
        seen[who] = (c.role.value, c.grants.moderate, c.grants.publish, c.grants.hidden)
    assert seen == {
        "county_admin": ("teacher", True, True, False),
        "teacher": ("participant", False, True, False),
        device: ("classroom", False, True, False),
        "admin": ("observer", False, False, True),
    }
    # The second village is not invited until the host adds it.
    other_device = f"device:{seed.receiving_classroom_ids[1]}"
    err(await world.request(other_device, "POST", f"/api/meetings/{m['id']}/join"),
        403, "permission_denied")
    err(await world.request("teacher", "POST", f"/api/meetings/{m['id']}/invites",
                            json={"unit_ids": [seed.village_school_ids[1]]}),
        403, "permission_denied")
    r = await world.request("county_admin", "POST", f"/api/meetings/{m['id']}/invites",
                            json={"unit_ids": [seed.village_school_ids[1], village]})
    assert r.status_code == 200 and r.json()["invite_unit_ids"] == [
        village, seed.village_school_ids[1]]
    r = await world.request(other_device, "POST", f"/api/meetings/{m['id']}/join")
    assert r.status_code == 200


async def test_meeting_scope_and_state_errors(world: World) -> None:
    seed = world.seed
    r = await world.request("county_admin", "POST", "/api/meetings",
                            json={"title": "周例会", **window()})
    m = r.json()
    for who in ("other_county_admin", "other_teacher", "evaluator"):
        err(await world.request(who, "POST", f"/api/meetings/{m['id']}/join"),
            403, "permission_denied")
        err(await world.request(who, "GET", f"/api/meetings/{m['id']}"), 403, "permission_denied")
    err(await world.request("county_admin", "GET", "/api/meetings/424242"), 404, "not_found")
    err(await world.request("county_admin", "POST", "/api/meetings", json={
        "title": "x", **window(), "invite_unit_ids": [seed.other_county_id]}),
        403, "permission_denied")
    err(await world.request("evaluator", "POST", "/api/meetings",
                            json={"title": "x", **window()}), 403, "permission_denied")
    err(await world.request("county_admin", "POST", "/api/meetings",
                            json={"title": "", **window()}), 422, "validation_failed")
    err(await world.request("county_admin", "POST", "/api/meetings",
                            json={"title": "x", **window(hours=13)}), 422, "validation_failed")
    r = await world.request("county_admin", "POST", f"/api/meetings/{m['id']}/end")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    err(await world.request("county_admin", "POST", f"/api/meetings/{m['id']}/join"),
        409, "invalid_state")
