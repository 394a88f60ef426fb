"""Floor modes over real WebSocket clients: chair and free mode, N speakers, time limits,
mute-all, and who may do what (a hidden evaluator, a classroom granting)."""

from __future__ import annotations

import pytest

from clients.python import SignalingError, TongbuClient
from signaling.protocol import ErrorCode, FloorChanged, Muted
from tests.integration.interaction.conftest import Lessonroom


async def test_hidden_evaluator_may_not_request_the_floor_nor_steer_it(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    evaluator = await lesson.evaluator()
    for call in (
        evaluator.request_floor(),
        evaluator.set_floor_mode("free"),
        evaluator.mute_all(),
    ):
        with pytest.raises(SignalingError) as err:
            await call
        assert err.value.code is ErrorCode.PERMISSION_DENIED
    assert teacher.floor.queue == [] and teacher.floor.speakers == []
    await teacher.ping()  # the room carries on: the server still answers


async def test_a_classroom_may_not_grant_revoke_or_change_the_mode(lesson: Lessonroom) -> None:
    await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    assert second.participant_id is not None
    with pytest.raises(SignalingError) as err:
        await first.grant_floor(second.participant_id)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    with pytest.raises(SignalingError) as err:
        await first.set_floor_mode("free", max_speakers=0)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    with pytest.raises(SignalingError) as err:
        await first.grant_floor_for(second.participant_id, 30)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    assert first.floor.mode == "chair" and first.floor.speakers == []


async def test_chair_mode_queue_is_ordered_and_grants_follow_the_limit(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    rooms = [await lesson.classroom(i) for i in range(3)]
    ids = [c.participant_id for c in rooms]
    for c in rooms:
        await c.request_floor()
    await teacher.wait_until(lambda: teacher.floor.queue == ids, within=5)
    await teacher.set_floor_mode("chair", max_speakers=2)
    for pid in ids:
        assert pid is not None
        await teacher.grant_floor(pid)
    # Two at most: the oldest speaker lost the floor to the third grant.
    await teacher.wait_until(lambda: teacher.floor.speakers == ids[1:], within=5)
    assert teacher.floor.holder == ids[1] and teacher.floor.queue == []
    await rooms[0].wait_until(lambda: rooms[0].floor.speakers == ids[1:], within=5)
    info = teacher.participants[ids[2] or ""]
    assert info.has_floor
    changes = [e.payload for e in await lesson.events("floor.changed")]
    assert [c["reason"] for c in changes][:3] == ["requested"] * 3
    assert changes[-1]["speakers"] == ids[1:] and changes[-1]["max_speakers"] == 2


async def test_free_mode_lets_n_classrooms_take_the_floor_and_refuses_one_more(
    lesson: Lessonroom,
) -> None:
    teacher = await lesson.teacher()
    rooms = [await lesson.classroom(i) for i in range(3)]
    await teacher.set_floor_mode("free", max_speakers=2)
    await rooms[2].wait_until(lambda: rooms[2].floor.mode == "free", within=5)
    assert rooms[2].floor.max_speakers == 2
    await rooms[0].request_floor()
    await rooms[1].request_floor()
    with pytest.raises(SignalingError) as err:
        await rooms[2].request_floor()
    assert err.value.code is ErrorCode.LIMIT_REACHED
    await teacher.wait_until(lambda: len(teacher.floor.speakers) == 2, within=5)
    # A speaker gives the floor back itself; now the third may speak.
    await rooms[0].revoke_floor(rooms[0].participant_id)
    await rooms[2].request_floor()
    await teacher.wait_until(
        lambda: teacher.floor.speakers == [rooms[1].participant_id, rooms[2].participant_id],
        within=5,
    )
    changes = await lesson.events("floor.changed")
    modes = [e.payload for e in changes if e.payload["reason"] == "mode"]
    assert modes and modes[0]["mode"] == "free" and modes[0]["max_speakers"] == 2


async def test_a_timed_grant_is_taken_back_and_announced(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    speaker = await lesson.classroom(0)
    listener = await lesson.classroom(1)
    seen: list[FloorChanged] = []
    listener.on_floor_changed(lambda floor, previous: seen.append(floor))
    assert speaker.participant_id is not None
    await teacher.grant_floor_for(speaker.participant_id, 5)
    await listener.wait_until(lambda: listener.floor.holder == speaker.participant_id, within=5)
    ends = listener.floor.expires_at[speaker.participant_id]
    await listener.wait_until(lambda: listener.floor.speakers == [], within=12)
    assert listener.floor.expires_at == {}
    expired = [e.payload for e in await lesson.events("floor.changed")]
    assert expired[-1]["reason"] == "expired" and expired[-1]["removed"] == [
        speaker.participant_id
    ]
    event_time = (await lesson.events("floor.changed"))[-1].created_at.timestamp()
    assert event_time >= ends - 0.05


async def test_mute_all_holds_until_released_except_for_a_speaker(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    muted: list[Muted] = []
    first.on_muted(muted.append)
    await teacher.mute_all()
    await first.wait_until(lambda: first.floor.mute_all, within=5)
    await first.wait_until(
        lambda: "audio" in first.participants[second.participant_id or ""].muted, within=5
    )
    assert any(m.participant_id == first.participant_id and m.muted for m in muted)
    # Not holding the floor: a classroom may not unmute itself.
    with pytest.raises(SignalingError) as err:
        await first.mute(first.participant_id or "", "audio", False)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    # A classroom joining now starts muted.
    third = await lesson.classroom(2)
    await teacher.wait_until(
        lambda: "audio" in teacher.participants[third.participant_id or ""].muted, within=5
    )
    # Given the floor, it may unmute itself.
    await teacher.grant_floor(first.participant_id or "")
    await first.wait_until(lambda: first.floor.holder == first.participant_id, within=5)
    await first.mute(first.participant_id or "", "audio", False)
    # Released: everyone mute-all muted is unmuted.
    await teacher.mute_all(False)
    await teacher.wait_until(
        lambda: all(not p.muted for p in teacher.participants.values()), within=5
    )
    names = [e.payload["reason"] for e in await lesson.events("floor.changed")]
    assert names.count("mute_all") == 2


async def test_two_speakers_are_heard_by_a_listening_classroom(
    lesson: Lessonroom, clip: object
) -> None:
    teacher = await lesson.teacher()
    speakers = [await lesson.classroom(0), await lesson.classroom(1)]
    listener = await lesson.classroom(2)
    await teacher.set_floor_mode("chair", max_speakers=2)
    published = []
    for s in speakers:
        published += [p.id for p in await s.publish_file(clip) if p.kind == "video"]  # type: ignore[arg-type]
    for s in speakers:
        await teacher.grant_floor(s.participant_id or "")
    await listener.wait_for_frames(5, producer_ids=published, within=40)
    # The first loses the floor: the listener stops consuming it, keeps the second.
    await teacher.revoke_floor(speakers[0].participant_id)
    gone = published[0]
    await listener.wait_until(
        lambda: all(s.producer_id != gone for s in _consumers(listener)), within=10
    )
    before = listener.frames[published[1]]
    await listener.wait_until(lambda: listener.frames[published[1]] > before + 5, within=10)


def _consumers(client: TongbuClient) -> list[object]:
    """The consumers of the client's latest offer with an active m-section."""
    pc = client._recv_pc
    if pc is None:
        return []
    active = {t.mid for t in pc.getTransceivers() if t.currentDirection in ("recvonly", "sendrecv")}
    return [c for key, c in client._consumers.items() if key.startswith("mid:") and c.mid in active]


async def test_a_research_room_has_no_floor_to_ask_for(lesson: Lessonroom) -> None:
    from server.tokens import RoomRole, issue_room_token

    def token(identity: str) -> str:
        return issue_room_token(
            lesson.server.settings.ensure_secret(),
            room="research-1",
            identity=identity,
            role=RoomRole.RESEARCHER,
            ttl=600,
            kind="research",  # type: ignore[call-arg]
        )

    a = TongbuClient(lesson.server.url, token("teacher-a"))
    b = TongbuClient(lesson.server.url, token("teacher-b"))
    lesson.clients += [a, b]
    await a.join()
    await b.join()
    assert a.floor.mode == "free" and a.floor.max_speakers is None
    await a.request_floor()
    await b.request_floor()
    await b.wait_until(lambda: len(b.floor.speakers) == 2, within=5)
