"""Courseware sync over the real WebSocket with real TongbuClients and a migrated, seeded lesson.

The document is uploaded through the live server's REST API (the real renderer);
page turns, strokes and pointer moves travel over signaling; the lesson log is
read back from the database.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from clients.python import TongbuClient
from clients.python.client import SignalingError
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.db.models import Lesson, LessonEvent, LessonState
from server.seed import DemoSeed, seed_demo
from server.tokens import RoomRole, TokenType, encode, issue_room_token
from signaling.protocol import ErrorCode
from tests.integration.courseware.conftest import pdf_bytes
from tests.integration.signaling.conftest import LiveServer

WITHIN = 1.0  # the brief: everyone receives page turns within a second


async def _world(server: LiveServer) -> tuple[DemoSeed, int]:
    settings = server.settings
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings), password_for=lambda s: s * 3)
            lesson = await session.get(Lesson, seed.lesson_ids[0])
            assert lesson is not None
            lesson.state = LessonState.LIVE
            lesson.actual_start = datetime.now(UTC)
            return seed, lesson.id
    finally:
        await db.close()


def _http(server: LiveServer, user_id: int) -> httpx.AsyncClient:
    token = encode(server.settings.ensure_secret(), TokenType.ACCESS, {"sub": str(user_id)}, 600)
    base = server.url.replace("ws://", "http://").removesuffix("/ws")
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})


async def _upload(server: LiveServer, user_id: int, pages: int, **owner: int) -> dict[str, Any]:
    async with _http(server, user_id) as http:
        r = await http.post(
            "/api/courseware",
            files={"file": ("课件.pdf", pdf_bytes(pages), "application/pdf")},
            data={k: str(v) for k, v in owner.items()},
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _token(
    server: LiveServer, room: str, identity: str, role: RoomRole, *, kind: str = "lesson",
    classroom_id: int | None = None,
) -> str:
    return issue_room_token(
        server.settings.ensure_secret(), room=room, identity=identity, role=role, ttl=600,
        name=identity, classroom_id=classroom_id, kind=kind,  # type: ignore[arg-type]
    )


def _client(server: LiveServer, token: str) -> TongbuClient:
    return TongbuClient(server.url, token, auto_subscribe=False)


async def _until(client: TongbuClient, predicate: Any, within: float = 5.0) -> float:
    """Seconds until `predicate(client.courseware)` holds."""
    start = time.monotonic()
    await client.wait_until(lambda: predicate(client.courseware), within=within)
    return time.monotonic() - start


async def _events(server: LiveServer, lesson_id: int) -> list[LessonEvent]:
    await server.hub.events.drain()
    db = Database.from_settings(server.settings)
    await db.open()
    try:
        async with db.session() as session:
            rows = await session.scalars(
                sa.select(LessonEvent)
                .where(LessonEvent.lesson_id == lesson_id, LessonEvent.type.like("courseware.%"))
                .order_by(LessonEvent.id)
            )
            return list(rows.all())
    finally:
        await db.close()


@pytest.mark.slow
async def test_page_turn_reaches_everyone_and_a_late_joiner_lands_on_the_current_page(
    live_server: LiveServer,
) -> None:
    seed, lesson_id = await _world(live_server)
    doc = await _upload(live_server, seed.accounts["teacher"].user_id, 3, lesson_id=lesson_id)
    room = f"lesson-{lesson_id}"
    rooms = seed.receiving_classroom_ids
    teacher = _client(live_server, _token(live_server, room, "teacher", RoomRole.TEACHER))
    a = _client(live_server, _token(live_server, room, "c-a", RoomRole.CLASSROOM,
                                    classroom_id=rooms[0]))
    b = _client(live_server, _token(live_server, room, "c-b", RoomRole.CLASSROOM,
                                    classroom_id=rooms[1]))
    late = _client(live_server, _token(live_server, room, "c-late", RoomRole.CLASSROOM,
                                       classroom_id=rooms[2]))
    async with teacher, a, b:
        await teacher.courseware_open(doc["id"])
        for c in (a, b):
            await _until(c, lambda v: v.document is not None and v.document.id == doc["id"])
            assert c.courseware.document is not None
            assert c.courseware.document.page_count == 3 and c.courseware.page == 1
        sent = time.monotonic()
        await teacher.courseware_page(2)
        for c in (a, b):
            await _until(c, lambda v: v.page == 2, within=WITHIN)
        turn_latency = time.monotonic() - sent
        await teacher.courseware_stroke([(0.1, 0.1), (0.5, 0.5), (0.9, 0.2)], color="#0000ff")
        for c in (a, b):
            await _until(c, lambda v: len(v.strokes) == 1, within=WITHIN)
        assert a.courseware.strokes[0].points == [(0.1, 0.1), (0.5, 0.5), (0.9, 0.2)]
        assert a.courseware.strokes[0].color == "#0000ff"
        # Pointer moves reach the others but never the log.
        await teacher.courseware_pointer(0.3, 0.4)
        await _until(a, lambda v: bool(v.pointers))
        assert list(a.courseware.pointers.values()) == [(0.3, 0.4)]
        async with late:
            # The snapshot right after `joined`: the current page with its stroke.
            await _until(late, lambda v: v.document is not None)
            assert late.courseware.page == 2 and len(late.courseware.strokes) == 1
            assert late.courseware.document is not None
            url = late.courseware.document.pages[1].url
            async with _http(live_server, seed.accounts["teacher"].user_id) as http:
                image = await http.get(url)
            assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
            # Turning back shows page 1 without page 2's stroke; sync answers the same state.
            await teacher.courseware_page(1)
            await _until(late, lambda v: v.page == 1 and not v.strokes, within=WITHIN)
            state = await late.courseware_sync()
            assert state.page == 1 and state.document is not None
            assert state.document.id == doc["id"]
    print(f"page turn reached two classrooms in {turn_latency * 1000:.0f} ms")
    events = await _events(live_server, lesson_id)
    kinds = [e.type for e in events]
    assert kinds == [
        "courseware.opened", "courseware.page", "courseware.stroke", "courseware.page"
    ], kinds
    assert events[1].payload["page"] == 2 and events[1].payload["document_id"] == doc["id"]
    assert events[2].payload["points"] == [[0.1, 0.1], [0.5, 0.5], [0.9, 0.2]]
    assert all(e.offset_ms >= 0 for e in events)


async def test_strokes_are_bounded_and_only_the_teacher_drives(live_server: LiveServer) -> None:
    seed, lesson_id = await _world(live_server)
    teacher_id = seed.accounts["teacher"].user_id
    doc = await _upload(live_server, teacher_id, 2, lesson_id=lesson_id)
    other = await _upload(live_server, teacher_id, 1, lesson_id=seed.lesson_ids[1])
    room = f"lesson-{lesson_id}"
    live_server.settings.courseware.max_strokes_per_page = 3
    teacher = _client(live_server, _token(live_server, room, "teacher", RoomRole.TEACHER))
    pupil = _client(live_server, _token(live_server, room, "c-a", RoomRole.CLASSROOM))
    expert = _client(live_server, _token(live_server, room, "eval", RoomRole.EVALUATOR))
    async with teacher, pupil, expert:

        async def refused(coro: Any, code: ErrorCode) -> None:
            with pytest.raises(SignalingError) as info:
                await coro
            assert info.value.code is code, info.value

        await refused(teacher.courseware_page(2), ErrorCode.INVALID_STATE)  # nothing open
        await refused(teacher.courseware_open(999_999), ErrorCode.NOT_FOUND)
        await refused(teacher.courseware_open(other["id"]), ErrorCode.PERMISSION_DENIED)
        await refused(teacher.courseware_open(doc["id"], page=3), ErrorCode.INVALID_STATE)
        await teacher.courseware_open(doc["id"])
        await refused(pupil.courseware_page(2), ErrorCode.PERMISSION_DENIED)
        await refused(pupil.courseware_stroke([(0.5, 0.5)]), ErrorCode.PERMISSION_DENIED)
        await refused(expert.courseware_open(doc["id"]), ErrorCode.PERMISSION_DENIED)
        await refused(teacher.courseware_page(3), ErrorCode.INVALID_STATE)
        # A stroke of 501 points, or off the page, is malformed (sent raw: the client's own
        # models refuse to build it): the server answers `invalid_message`, nobody gets it.
        for rid, points in (("big", [[0.5, 0.5]] * 501), ("off", [[1.5, 0.5]])):
            await teacher.send_raw(json.dumps(
                {"type": "courseware_stroke", "id": rid, "points": points}
            ))
        await teacher.wait_until(lambda: len(teacher.errors) == 2)
        assert {(e.id, e.code) for e in teacher.errors} == {
            ("big", ErrorCode.INVALID_MESSAGE), ("off", ErrorCode.INVALID_MESSAGE)
        }
        teacher.errors.clear()
        for _ in range(3):
            await teacher.courseware_stroke([(0.2, 0.2), (0.3, 0.3)])
        await refused(teacher.courseware_stroke([(0.2, 0.2)]), ErrorCode.LIMIT_REACHED)
        await _until(pupil, lambda v: len(v.strokes) == 3)
        await teacher.courseware_clear()
        await _until(pupil, lambda v: not v.strokes)
        await teacher.courseware_stroke([(0.4, 0.4)])  # room again after clearing
        await _until(pupil, lambda v: len(v.strokes) == 1)
        # Pointer moves are throttled (20/s by default): a burst of 30 arrives thinned out.
        for i in range(30):
            await teacher.courseware_pointer(i / 30, 0.5)
        await asyncio.sleep(0.3)
        moves = [t for t, kind in pupil.courseware.received if kind == "courseware_pointer_moved"]
        assert 1 <= len(moves) < 30
        assert teacher.errors == [] and pupil.errors == []


async def test_everyone_drives_in_a_research_room(live_server: LiveServer) -> None:
    seed, _lesson_id = await _world(live_server)
    host = seed.accounts["teacher"]
    async with _http(live_server, host.user_id) as http:
        r = await http.post("/api/research", json={
            "title": "分数教学研讨", "course_id": seed.course_ids[0],
            "starts_at": datetime.now(UTC).isoformat(),
            "ends_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
            "invite_user_ids": [seed.accounts["researcher"].user_id],
        })
    assert r.status_code == 201, r.text
    session_id = r.json()["id"]
    doc = await _upload(live_server, host.user_id, 2, session_id=session_id)
    room = f"research-{session_id}"
    hosting = _client(live_server, _token(live_server, room, "teacher", RoomRole.TEACHER,
                                          kind="research"))
    peer = _client(live_server, _token(live_server, room, "researcher", RoomRole.RESEARCHER,
                                       kind="research"))
    async with hosting, peer:
        await peer.courseware_open(doc["id"])  # not a moderator, yet drives in 同步教研
        await peer.courseware_page(2)
        await _until(hosting, lambda v: v.page == 2)
        # The same non-moderator role in a lesson room may not.
        await hosting.courseware_stroke([(0.5, 0.5)])
        await _until(peer, lambda v: len(v.strokes) == 1)
