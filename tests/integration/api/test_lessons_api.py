"""Running a lesson: start/end state machine, events, join tokens, attendance, evaluations."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from server.db.models import Lesson, Recording, RecordingState, User, utcnow
from server.lessons import record_event
from server.tokens import RoomRole, verify_room_token
from tests.integration.api.conftest import SECRET, World


async def _start(world: World, who: str = "teacher") -> int:
    lesson = world.seed.lesson_ids[0]
    r = await world.request(who, "POST", f"/api/lessons/{lesson}/start")
    assert r.status_code == 200, r.text
    return lesson


async def test_start_then_end_records_actual_times_and_events(world: World) -> None:
    lesson = await _start(world)
    r = await world.request("teacher", "GET", f"/api/lessons/{lesson}")
    assert r.json()["state"] == "live" and r.json()["actual_start"]
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson}/end")
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "ended" and body["actual_end"] >= body["actual_start"]
    events = (await world.request("teacher", "GET", f"/api/lessons/{lesson}/events")).json()
    assert [e["type"] for e in events["items"]] == ["lesson.started", "lesson.ended"]
    assert events["items"][0]["offset_ms"] == 0 and events["items"][1]["offset_ms"] >= 0


async def test_state_machine_refuses_bad_transitions(world: World) -> None:
    lesson = world.seed.lesson_ids[0]
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson}/end")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    await _start(world)
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson}/start")
    assert r.status_code == 409
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson}/cancel")
    assert r.status_code == 409
    r = await world.request("teacher", "PATCH", f"/api/lessons/{lesson}", json={"title": "改"})
    assert r.status_code == 409


async def test_lesson_cannot_start_long_before_its_time(world: World) -> None:
    later = world.seed.lesson_ids[2]  # starts about 150 minutes from now
    r = await world.request("teacher", "POST", f"/api/lessons/{later}/start")
    assert r.status_code == 409
    assert "earliest" in r.json()["error"]["details"]


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("teacher", RoomRole.TEACHER),
        ("main_device", RoomRole.TEACHER),
        ("receiving_device", RoomRole.CLASSROOM),
        ("evaluator", RoomRole.EVALUATOR),
        ("county_admin", RoomRole.OBSERVER),
        ("admin", RoomRole.OBSERVER),
    ],
)
async def test_join_live_lesson_gives_role_from_principal(
    world: World, who: str, role: RoomRole
) -> None:
    lesson = await _start(world)
    principal = {
        "main_device": f"device:{world.seed.main_classroom_id}",
        "receiving_device": f"device:{world.seed.receiving_classroom_ids[0]}",
    }.get(who, who)
    r = await world.request(principal, "POST", f"/api/lessons/{lesson}/join")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == role.value and body["room"] == f"lesson-{lesson}"
    assert body["ws_url"] == "ws://tongbu.test/ws"
    claims = verify_room_token(SECRET, body["token"])
    assert claims.room == f"lesson-{lesson}" and claims.role is role
    assert claims.identity == body["identity"]
    assert claims.grants.hidden == (role in (RoomRole.EVALUATOR, RoomRole.OBSERVER))


@pytest.mark.parametrize("who", ["other_teacher", "other_county_admin", "researcher"])
async def test_join_without_a_role_in_the_lesson_is_403(world: World, who: str) -> None:
    lesson = await _start(world)
    r = await world.request(who, "POST", f"/api/lessons/{lesson}/join")
    assert r.status_code == 403


async def test_only_the_teacher_may_join_early_and_not_too_early(world: World) -> None:
    soon, later = world.seed.lesson_ids[0], world.seed.lesson_ids[2]
    assert (await world.request("teacher", "POST", f"/api/lessons/{soon}/join")).status_code == 200
    device = f"device:{world.seed.receiving_classroom_ids[0]}"
    r = await world.request(device, "POST", f"/api/lessons/{soon}/join")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    assert (await world.request("teacher", "POST", f"/api/lessons/{later}/join")).status_code == 409


async def test_join_of_receiving_classroom_marks_attendance(world: World) -> None:
    lesson = await _start(world)
    room = world.seed.receiving_classroom_ids[1]
    await world.request(f"device:{room}", "POST", f"/api/lessons/{lesson}/join")
    r = await world.request(
        f"device:{room}", "POST", f"/api/lessons/{lesson}/attendance", json={"pupils_present": 6}
    )
    assert r.status_code == 200
    rows = (await world.request("county_admin", "GET", f"/api/lessons/{lesson}/attendance")).json()
    assert [(a["classroom_id"], a["pupils_present"], a["joined_at"] is not None) for a in rows] == [
        (room, 6, True)
    ]


async def test_ice_servers_and_public_url_reach_the_join_answer(world: World) -> None:
    from server.settings import IceServer

    lesson = await _start(world)
    world.settings.public_url = "https://tongbu.example.cn"
    world.settings.media.ice_servers = [IceServer(urls=["stun:stun.example.cn:3478"])]
    try:
        body = (await world.request("teacher", "POST", f"/api/lessons/{lesson}/join")).json()
    finally:
        world.settings.public_url = None
        world.settings.media.ice_servers = []
    assert body["ws_url"] == "wss://tongbu.example.cn/ws"
    assert body["ice_servers"] == [{"urls": ["stun:stun.example.cn:3478"]}]


async def test_assigned_evaluator_from_elsewhere_sees_and_scores_the_lesson(world: World) -> None:
    r = await world.request(
        "admin",
        "POST",
        "/api/users",
        json={
            "login": "guest_expert",
            "display_name": "外请专家",
            "password": "a-long-password",
            "role": "evaluator",
            "org_unit_id": world.seed.other_county_id,
        },
    )
    guest = r.json()["id"]
    expert = f"user:{guest}"
    lesson = world.seed.lesson_ids[0]
    assert (await world.request(expert, "GET", f"/api/lessons/{lesson}")).status_code == 403
    r = await world.request(
        "county_admin", "POST", f"/api/lessons/{lesson}/evaluators", json={"evaluator_id": guest}
    )
    assert r.status_code == 204
    assert (await world.request(expert, "GET", f"/api/lessons/{lesson}")).status_code == 200
    listed = (await world.request(expert, "GET", "/api/lessons")).json()
    assert [x["id"] for x in listed["items"]] == [lesson]


async def test_evaluation_with_rubric_scores_and_timestamped_comments(world: World) -> None:
    lesson = await _start(world)
    r = await world.request(
        "evaluator",
        "POST",
        "/api/evaluations",
        json={
            "lesson_id": lesson,
            "rubric_id": world.seed.rubric_id,
            "scores": {"goals": 18, "interaction": 25},
            "summary": "互动充分",
        },
    )
    assert r.status_code == 201, r.text
    evaluation = r.json()
    assert [c["key"] for c in evaluation["rubric"]] == ["goals", "interaction", "media", "outcome"]
    r = await world.request(
        "evaluator",
        "POST",
        f"/api/evaluations/{evaluation['id']}/comments",
        json={
            "offset_ms": 125_000,
            "text": "接收课堂举手及时",
            "classroom_id": world.seed.receiving_classroom_ids[2],
        },
    )
    assert r.status_code == 201
    await world.request(
        "evaluator",
        "POST",
        f"/api/evaluations/{evaluation['id']}/comments",
        json={"offset_ms": 60_000, "text": "导入清晰"},
    )
    got = (await world.request("teacher", "GET", f"/api/evaluations/{evaluation['id']}")).json()
    assert [c["offset_ms"] for c in got["comments"]] == [60_000, 125_000]
    again = await world.request("evaluator", "POST", "/api/evaluations", json={"lesson_id": lesson})
    assert again.status_code == 409
    r = await world.request(
        "teacher", "PATCH", f"/api/evaluations/{evaluation['id']}", json={"summary": "我改的"}
    )
    assert r.status_code == 403
    listed = (await world.request("other_county_admin", "GET", "/api/evaluations")).json()
    assert listed["total"] == 0


async def test_scores_outside_the_rubric_are_422(world: World) -> None:
    lesson = world.seed.lesson_ids[0]
    for scores in ({"goals": 21}, {"charisma": 3}, {"goals": -1}):
        r = await world.request(
            "evaluator",
            "POST",
            "/api/evaluations",
            json={"lesson_id": lesson, "rubric_id": world.seed.rubric_id, "scores": scores},
        )
        assert r.status_code == 422, scores


async def test_events_are_paginated_and_filtered(world: World) -> None:
    lesson_id = await _start(world)
    async with world.db.session() as session:
        lesson = await session.get(Lesson, lesson_id)
        assert lesson is not None
        for i in range(5):
            await record_event(
                session,
                lesson,
                "floor.granted",
                "user-1",
                {"classroom_id": i},
                at=utcnow() + timedelta(seconds=i + 1),
            )
    r = await world.request(
        "evaluator",
        "GET",
        f"/api/lessons/{lesson_id}/events",
        params={"type": "floor.granted", "limit": 2, "offset": 2},
    )
    page = r.json()
    assert page["total"] == 5
    assert [e["payload"]["classroom_id"] for e in page["items"]] == [2, 3]


async def test_recordings_list_and_metadata_follow_lesson_scope(world: World) -> None:
    lesson = world.seed.lesson_ids[0]
    async with world.db.session() as session:
        rec = Recording(
            lesson_id=lesson,
            state=RecordingState.READY,
            storage_key=f"lessons/{lesson}",
            tracks=[{"id": "t1", "kind": "video"}],
            manifest={"version": 1},
            size_bytes=1234,
        )
        session.add(rec)
        await session.flush()
        rec_id = rec.id
    r = await world.request("county_admin", "GET", "/api/recordings", params={"lesson_id": lesson})
    assert [x["id"] for x in r.json()["items"]] == [rec_id]
    assert "manifest" not in r.json()["items"][0]
    detail = (await world.request("evaluator", "GET", f"/api/recordings/{rec_id}")).json()
    assert detail["manifest"] == {"version": 1} and detail["size_bytes"] == 1234
    assert (await world.request("other_county_admin", "GET", "/api/recordings")).json()[
        "total"
    ] == 0
    r = await world.request("other_teacher", "GET", f"/api/recordings/{rec_id}")
    assert r.status_code == 403


async def test_teacher_schedules_own_lesson_but_not_for_others(world: World) -> None:
    start = utcnow() + timedelta(days=3)
    body = {
        "title": "教研",
        "kind": "research",
        "teacher_id": world.seed.accounts["teacher"].user_id,
        "main_classroom_id": world.seed.main_classroom_id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
    }
    assert (await world.request("teacher", "POST", "/api/lessons", json=body)).status_code == 201
    async with world.db.session() as session:
        researcher = await session.get(User, world.seed.accounts["researcher"].user_id)
        assert researcher is not None
    body["teacher_id"] = researcher.id
    assert (await world.request("teacher", "POST", "/api/lessons", json=body)).status_code == 403


async def test_list_lessons_by_week_counts_today(world: World) -> None:
    async with world.db.session() as session:
        first = await session.scalar(sa.select(Lesson).where(Lesson.id == world.seed.lesson_ids[0]))
        assert first is not None
    week = first.starts_at.date().isoformat()
    r = await world.request(
        "county_admin", "GET", "/api/lessons", params={"week": week, "tz": "UTC"}
    )
    assert r.json()["total"] >= 1


async def test_title_of_a_late_lesson_can_still_be_fixed(world: World) -> None:
    lesson_id = world.seed.lesson_ids[0]
    async with world.db.session() as session:
        lesson = await session.get(Lesson, lesson_id)
        assert lesson is not None
        lesson.starts_at = utcnow() - timedelta(minutes=5)
    r = await world.request(
        "teacher", "PATCH", f"/api/lessons/{lesson_id}", json={"title": "新标题"}
    )
    assert r.status_code == 200 and r.json()["title"] == "新标题"
    r = await world.request(
        "teacher",
        "PATCH",
        f"/api/lessons/{lesson_id}",
        json={"starts_at": (utcnow() - timedelta(hours=2)).isoformat()},
    )
    assert r.status_code == 422


async def test_leaving_and_rejoining_updates_attendance(world: World) -> None:
    from server.lessons import mark_joined, mark_left

    lesson = await _start(world)
    room = world.seed.receiving_classroom_ids[0]
    async with world.db.session() as session:
        await mark_joined(session, lesson, room)
        await mark_left(session, lesson, room)
    (row,) = (await world.request("admin", "GET", f"/api/lessons/{lesson}/attendance")).json()
    assert row["left_at"] is not None and row["joined_at"] <= row["left_at"]
    await world.request(f"device:{room}", "POST", f"/api/lessons/{lesson}/join")
    (row,) = (await world.request("admin", "GET", f"/api/lessons/{lesson}/attendance")).json()
    assert row["left_at"] is None


@pytest.mark.parametrize(
    ("who", "count"),
    [
        ("admin", 3),
        ("county_admin", 3),
        ("other_county_admin", 0),
        ("teacher", 3),
        ("researcher", 3),  # the timetable of the own school
        ("other_teacher", 0),
        ("evaluator", 3),
    ],
)
async def test_lesson_list_follows_scope(world: World, who: str, count: int) -> None:
    r = await world.request(who, "GET", "/api/lessons")
    assert r.status_code == 200
    assert r.json()["total"] == count


async def test_device_lists_only_its_lessons(world: World) -> None:
    other = await world.request(f"device:{world.seed.other_classroom_id}", "GET", "/api/lessons")
    assert other.json()["total"] == 0
    main = await world.request(f"device:{world.seed.main_classroom_id}", "GET", "/api/lessons")
    assert main.json()["total"] == 3
