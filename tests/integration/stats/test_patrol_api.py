"""巡课 over REST: live lessons in scope, a hidden subscribe-only room token, flags stored,
listed and visible in the lesson's event log; out of scope 403, not live 409."""

from __future__ import annotations

from server.tokens import RoomRole, verify_room_token
from tests.integration.api.conftest import SECRET, World


async def start_first_lesson(world: World) -> int:
    lesson_id = world.seed.lesson_ids[0]
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson_id}/start")
    assert r.status_code == 200, r.text
    return lesson_id


async def test_live_list_follows_scope(world: World) -> None:
    assert (await world.request("county_admin", "GET", "/api/patrol/live")).json() == []
    lesson_id = await start_first_lesson(world)
    live = (await world.request("county_admin", "GET", "/api/patrol/live")).json()
    assert [(x["lesson_id"], x["receivers"], x["flags"]) for x in live] == [(lesson_id, 3, 0)]
    assert live[0]["school_name"] == "正蓝旗第一小学"
    assert (await world.request("admin", "GET", "/api/patrol/live")).json()[0][
        "lesson_id"
    ] == lesson_id
    assert (await world.request("other_county_admin", "GET", "/api/patrol/live")).json() == []
    assert (await world.request("teacher", "GET", "/api/patrol/live")).status_code == 403


async def test_patrol_join_is_hidden_and_subscribe_only(world: World) -> None:
    lesson_id = await start_first_lesson(world)
    r = await world.request("county_admin", "POST", f"/api/patrol/lessons/{lesson_id}/join")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["layer"] == "low" and body["room"] == f"lesson-{lesson_id}"
    claims = verify_room_token(SECRET, body["token"])
    assert claims.role is RoomRole.OBSERVER
    assert claims.grants.hidden and claims.grants.subscribe
    assert not claims.grants.publish and not claims.grants.moderate and claims.grants.chat is False
    admin_id = world.seed.accounts["county_admin"].user_id
    assert claims.identity == f"patrol-user-{admin_id}"

    other = await world.request(
        "other_county_admin", "POST", f"/api/patrol/lessons/{lesson_id}/join"
    )
    assert other.status_code == 403
    not_live = await world.request(
        "county_admin", "POST", f"/api/patrol/lessons/{world.seed.lesson_ids[1]}/join"
    )
    assert not_live.status_code == 409 and not_live.json()["error"]["code"] == "invalid_state"
    teacher = await world.request("teacher", "POST", f"/api/patrol/lessons/{lesson_id}/join")
    assert teacher.status_code == 403


async def test_flags_are_stored_listed_and_logged(world: World) -> None:
    s = world.seed
    lesson_id = await start_first_lesson(world)
    url = f"/api/patrol/lessons/{lesson_id}/flags"
    r = await world.request(
        "county_admin",
        "POST",
        url,
        json={
            "category": "no_audio",
            "note": "接收教室无声音",
            "classroom_id": s.receiving_classroom_ids[1],
        },
    )
    assert r.status_code == 201, r.text
    flag = r.json()
    assert flag["category"] == "no_audio" and flag["author"].startswith("user-")

    listed = await world.request(
        "admin", "GET", "/api/patrol/flags", params={"lesson_id": lesson_id}
    )
    assert [f["id"] for f in listed.json()["items"]] == [flag["id"]]
    assert (await world.request("other_county_admin", "GET", "/api/patrol/flags")).json()[
        "total"
    ] == 0
    live = (await world.request("county_admin", "GET", "/api/patrol/live")).json()
    assert live[0]["flags"] == 1

    events = await world.request("county_admin", "GET", f"/api/lessons/{lesson_id}/events")
    flagged = [e for e in events.json()["items"] if e["type"] == "patrol.flagged"]
    assert len(flagged) == 1 and flagged[0]["payload"]["note"] == "接收教室无声音"

    bad = await world.request("county_admin", "POST", url, json={"category": "aliens"})
    assert bad.status_code == 422
    stranger = await world.request(
        "county_admin",
        "POST",
        url,
        json={"category": "other", "classroom_id": s.other_classroom_id},
    )
    assert stranger.status_code == 422
    outside = await world.request("other_county_admin", "POST", url, json={"category": "other"})
    assert outside.status_code == 403
