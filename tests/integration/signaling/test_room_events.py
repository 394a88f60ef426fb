"""Room events reach the lesson's event log and attendance; a room can be ended from outside;
feature handlers are routed by message type.

The lesson is a real row (migrated SQLite, demo seed); the classrooms are real
TongbuClients over the WebSocket. No media is needed for membership events.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import pytest
import sqlalchemy as sa

from clients.python import TongbuClient
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.db.models import Lesson, LessonEvent, LessonState, Participation
from server.seed import seed_demo
from server.tokens import RoomRole, issue_room_token
from signaling import features
from signaling.protocol import CloseReason, ErrorCode
from signaling.wire import Message, ProtocolError
from tests.integration.signaling.conftest import LiveServer


async def _live_lesson(server: LiveServer) -> tuple[int, list[int]]:
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
            return lesson.id, seed.receiving_classroom_ids
    finally:
        await db.close()


def _classroom_token(server: LiveServer, lesson_id: int, classroom_id: int) -> str:
    return issue_room_token(
        server.settings.ensure_secret(),
        room=f"lesson-{lesson_id}",
        identity=f"classroom:{classroom_id}",
        role=RoomRole.CLASSROOM,
        ttl=600,
        classroom_id=classroom_id,
    )


async def _rows(
    server: LiveServer, lesson_id: int
) -> tuple[list[LessonEvent], list[Participation]]:
    db = Database.from_settings(server.settings)
    await db.open()
    try:
        async with db.session() as session:
            events = (
                await session.scalars(
                    sa.select(LessonEvent)
                    .where(LessonEvent.lesson_id == lesson_id)
                    .order_by(LessonEvent.id)
                )
            ).all()
            rows = (
                await session.scalars(
                    sa.select(Participation).where(Participation.lesson_id == lesson_id)
                )
            ).all()
            return list(events), list(rows)
    finally:
        await db.close()


async def test_join_and_leave_land_in_the_event_log_and_attendance(
    live_server: LiveServer,
) -> None:
    lesson_id, classrooms = await _live_lesson(live_server)
    client = TongbuClient(live_server.url, _classroom_token(live_server, lesson_id, classrooms[0]))
    await client.join()
    await client.leave()
    await live_server.hub.events.drain()

    events, attendance = await _rows(live_server, lesson_id)
    names = [e.type for e in events]
    assert "participant.joined" in names and "participant.left" in names
    assert names.index("participant.joined") < names.index("participant.left")
    joined = events[names.index("participant.joined")]
    assert joined.actor == f"classroom:{classrooms[0]}"
    assert joined.payload["classroom_id"] == classrooms[0]
    assert joined.offset_ms >= 0
    row = next(r for r in attendance if r.classroom_id == classrooms[0])
    assert row.joined_at is not None and row.left_at is not None


async def test_closing_a_room_from_outside_tells_every_participant(
    live_server: LiveServer,
) -> None:
    token = live_server.token("classroom:1", room="lesson-77")
    client = TongbuClient(live_server.url, token)
    await client.join()
    assert await live_server.hub.close_room("lesson-77")
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_reason is CloseReason.ROOM_CLOSED
    assert "lesson-77" not in live_server.hub.rooms
    assert not await live_server.hub.close_room("lesson-77")


async def test_a_failing_observer_does_not_disturb_the_room(live_server: LiveServer) -> None:
    seen: list[str] = []

    async def broken(event: object) -> None:
        raise RuntimeError("observer bug")

    async def recording(event: object) -> None:
        seen.append(getattr(event, "name", ""))

    live_server.hub.observe(broken)
    live_server.hub.observe(recording)
    first = TongbuClient(live_server.url, live_server.token("classroom:1", room="r-obs"))
    second = TongbuClient(live_server.url, live_server.token("classroom:2", room="r-obs"))
    await first.join()
    await second.join()
    assert len(second.participants) == 1
    await first.leave()
    await second.leave()
    await live_server.hub.events.drain()
    assert seen.count("participant.joined") == 2 and seen.count("participant.left") == 2


class _Poke(Message):
    type: Literal["test_poke"] = "test_poke"
    n: int


class _Pokes(features.Feature):
    name = "test_pokes"

    def __init__(self, room: object) -> None:
        super().__init__(room)  # type: ignore[arg-type]
        self.total = 0

    @features.handles(_Poke)
    async def poke(self, p: object, message: _Poke) -> Message | None:
        if message.n < 0:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "negative poke")
        self.total += message.n
        return None


async def test_feature_messages_are_routed_to_the_room_instance() -> None:
    class FakeRoom:
        def __init__(self) -> None:
            self.features = {"test_pokes": _Pokes(None)}

    features.FEATURES.append(_Pokes)
    try:
        room = FakeRoom()
        await features.dispatch(room, None, _Poke(n=2))  # type: ignore[arg-type]
        await features.dispatch(room, None, _Poke(n=3))  # type: ignore[arg-type]
        assert room.features["test_pokes"].total == 5
        with pytest.raises(ProtocolError) as err:
            await features.dispatch(room, None, _Poke(n=-1))  # type: ignore[arg-type]
        assert err.value.code is ErrorCode.INVALID_MESSAGE
    finally:
        features.FEATURES.remove(_Pokes)
    with pytest.raises(ProtocolError) as err:
        await features.dispatch(FakeRoom(), None, _Poke(n=1))  # type: ignore[arg-type]
    assert err.value.code is ErrorCode.UNKNOWN_TYPE


async def test_the_lesson_log_on_an_unmigrated_database_gives_up_quietly(
    tmp_path: object,
) -> None:
    from pathlib import Path

    from server.settings import Settings
    from signaling.lessonlog import LessonLog
    from signaling.observers import RoomEvent

    settings = Settings(data_dir=Path(str(tmp_path)), secret_key="s" * 40)
    db = Database.from_settings(settings)
    await db.open()
    try:
        log = LessonLog(db)
        event = RoomEvent(name="participant.joined", room="lesson-1", data={"classroom_id": 1})
        await log(event)  # no tables: a warning, not an exception into the event bus
        assert log._broken
        await log(event)  # and no further attempts
        await log(RoomEvent(name="room.opened", room="meeting-3"))  # not a lesson: ignored
    finally:
        await db.close()
