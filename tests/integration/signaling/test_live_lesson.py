"""A live lesson over real uvicorn + real aiortc peers on loopback.

Clients run with `decode=False` (encoded-frame taps) so four peers fit on a
shared 2-core machine; frames are counted per producer id.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clients.python import SignalingError, TongbuClient
from server.tokens import RoomGrants, RoomRole
from signaling.protocol import CloseReason, ErrorCode, Publish, TrackSpec
from tests.integration.signaling.conftest import LiveServer

pytestmark = pytest.mark.media


def client(
    server: LiveServer, identity: str, role: RoomRole = RoomRole.CLASSROOM, **kw: object
) -> TongbuClient:
    return TongbuClient(server.url, server.token(identity, role, **kw), decode=False)  # type: ignore[arg-type]


async def counts_after(c: TongbuClient, producer_ids: list[str], seconds: float) -> int:
    await asyncio.sleep(seconds)
    return sum(c.frames[p] for p in producer_ids)


async def test_teacher_media_reaches_three_classrooms(live_server: LiveServer, clip: Path) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    classrooms = [client(live_server, f"school-{i}") for i in range(3)]
    try:
        await teacher.join()
        producers = await teacher.publish_file(clip)
        assert {p.kind for p in producers} == {"audio", "video"}
        assert not any(p.paused for p in producers), "the teacher is always live"
        for c in classrooms:
            joined = await c.join()
            assert {p.id for p in joined.producers} == {p.id for p in producers}
        ids = [p.id for p in producers]
        for c in classrooms:
            await c.wait_for_frames(10, producer_ids=ids, within=15)
            assert c.offers >= 1
            # every offered consumer names its m-section, so clients map tracks by mid
            mids = {k for k in c._consumers if k.startswith("mid:")}
            assert len(mids) == len(ids), c._consumers
        # Announcements: the teacher saw the three classrooms arrive.
        await teacher.wait_until(lambda: len(teacher.participants) == 3, within=5)
        assert classrooms[0].receiver_for(ids[0]) is not None
        assert classrooms[0].receiver_for("unknown") is None
        stats = await classrooms[0].get_stats()
        sent = {row["producer_id"]: row["frames_sent"] for row in stats.consumers.values()}
        assert set(sent) == set(ids) and all(n > 0 for n in sent.values())
    finally:
        for c in [*classrooms, teacher]:
            await c.leave()


async def test_floor_grant_carries_classroom_media_and_revoke_stops_it(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    speaker = client(live_server, "school-a")
    listener = client(live_server, "school-b")
    try:
        for c in (teacher, speaker, listener):
            await c.join()
        mine = await speaker.publish_file(clip)
        ids = [p.id for p in mine]
        audio = [p.id for p in mine if p.kind == "audio"]
        video = [p.id for p in mine if p.kind == "video"]
        assert all(p.paused for p in mine if p.kind == "audio"), "no floor: not heard"
        assert not any(p.paused for p in mine if p.kind == "video"), "the teacher's tile"
        # The teacher sees the classroom's tile but hears nothing; other classrooms get neither.
        await teacher.wait_for_frames(5, producer_ids=video, within=15)
        assert await counts_after(teacher, audio, 1.0) == 0
        assert sum(listener.frames[p] for p in ids) == 0

        await speaker.request_floor()
        await teacher.wait_until(lambda: teacher.floor.queue == [speaker.participant_id], within=5)
        await teacher.grant_floor(speaker.participant_id)  # type: ignore[arg-type]
        await listener.wait_until(lambda: listener.floor.holder == speaker.participant_id, within=5)
        assert listener.floor.queue == []
        await teacher.wait_for_frames(5, producer_ids=ids, within=15)
        await listener.wait_for_frames(5, producer_ids=ids, within=15)

        await teacher.revoke_floor(speaker.participant_id)
        await teacher.wait_until(lambda: teacher.floor.holder is None, within=5)
        await asyncio.sleep(0.5)  # frames already in flight
        before = sum(teacher.frames[p] for p in audio)
        assert await counts_after(teacher, audio, 1.0) == before, "revoked classroom still heard"
        seen = sum(teacher.frames[p] for p in video)
        assert await counts_after(teacher, video, 1.0) > seen, "the teacher keeps the tile"
    finally:
        for c in (speaker, listener, teacher):
            await c.leave()


async def test_hidden_listeners_hear_a_classroom_without_the_floor(
    live_server: LiveServer, clip: Path
) -> None:
    """The room does not hear a classroom without the floor, an evaluator (and the recorder)
    does; a muted microphone is silent for everyone."""
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-a")
    evaluator = client(live_server, "expert", RoomRole.EVALUATOR)
    try:
        for c in (teacher, school, evaluator):
            await c.join()
        mine = await school.publish_file(clip)
        audio = [p.id for p in mine if p.kind == "audio"]
        assert all(p.paused for p in mine if p.kind == "audio"), "announced as not heard"
        await evaluator.wait_for_frames(10, producer_ids=audio, within=15)
        assert sum(teacher.frames[p] for p in audio) == 0
        await teacher.mute(school.participant_id, "audio")  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        heard = sum(evaluator.frames[p] for p in audio)
        assert await counts_after(evaluator, audio, 1.0) == heard, "muted, yet overheard"
        assert sum(teacher.frames[p] for p in audio) == 0
    finally:
        for c in (evaluator, school, teacher):
            await c.leave()


async def test_hidden_evaluator_is_never_announced(live_server: LiveServer, clip: Path) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-a")
    evaluator = client(live_server, "expert", RoomRole.EVALUATOR)
    try:
        await teacher.join()
        await school.join()
        producers = await teacher.publish_file(clip)
        joined = await evaluator.join()
        assert joined.hidden
        assert {p.id for p in joined.participants} == {
            teacher.participant_id,
            school.participant_id,
        }
        await evaluator.wait_for_frames(5, producer_ids=[p.id for p in producers], within=15)
        with pytest.raises(SignalingError) as err:
            await evaluator.request_floor()
        assert err.value.code is ErrorCode.PERMISSION_DENIED
        # A moderator cannot address the evaluator either: it does not exist for them.
        with pytest.raises(SignalingError) as err:
            await teacher.mute(evaluator.participant_id, "audio")  # type: ignore[arg-type]
        assert err.value.code is ErrorCode.NOT_FOUND
        seen_left: list[str] = []
        school.on_participant_left(lambda pid, _reason: seen_left.append(pid))
        late = client(live_server, "school-late")
        late_joined = await late.join()
        await late.leave()
        await evaluator.leave()
        await school.wait_until(lambda: late.participant_id in seen_left, within=5)
        await asyncio.sleep(0.3)
        for c in (teacher, school):
            assert evaluator.participant_id not in c.participants
        assert evaluator.participant_id not in {p.id for p in late_joined.participants}
        assert seen_left == [late.participant_id]
    finally:
        for c in (school, teacher, evaluator):
            await c.close()


async def test_garbage_sdp_gets_typed_error_and_others_keep_receiving(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    good = client(live_server, "school-a")
    bad = client(live_server, "school-b")
    try:
        await teacher.join()
        producers = await teacher.publish_file(clip)
        ids = [p.id for p in producers]
        await good.join()
        await bad.join()
        await good.wait_for_frames(5, producer_ids=ids, within=15)
        await bad.send_raw(
            '{"type":"publish","id":"p1","sdp":"v=0 this is not sdp","tracks":[{"mid":"0"}]}'
        )
        await bad.wait_until(lambda: any(e.id == "p1" for e in bad.errors), within=5)
        error = next(e for e in bad.errors if e.id == "p1")
        assert error.code is ErrorCode.BAD_SDP
        assert await bad.ping() < 5  # still connected
        before = sum(good.frames[p] for p in ids)
        await good.wait_until(lambda: sum(good.frames[p] for p in ids) > before + 10, within=10)
        assert len(teacher.participants) == 2
    finally:
        for c in (good, bad, teacher):
            await c.leave()


async def test_publish_without_grant_is_denied(live_server: LiveServer, clip: Path) -> None:
    viewer = client(
        live_server, "viewer", RoomRole.CLASSROOM, grants=RoomGrants(publish=False, subscribe=True)
    )
    try:
        await viewer.join()
        with pytest.raises(SignalingError) as err:
            await viewer.publish_file(clip)
        assert err.value.code is ErrorCode.PERMISSION_DENIED
    finally:
        await viewer.leave()


async def test_subscribe_to_another_rooms_producer_is_denied(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER, room="lesson-A")
    intruder = client(live_server, "school", RoomRole.CLASSROOM, room="lesson-B")
    try:
        await teacher.join()
        producers = await teacher.publish_file(clip)
        await intruder.join()
        with pytest.raises(SignalingError) as err:
            await intruder.subscribe(producers[0].id)
        assert err.value.code is ErrorCode.PERMISSION_DENIED
        with pytest.raises(SignalingError) as err:
            await intruder.subscribe("no-such-producer")
        assert err.value.code is ErrorCode.NOT_FOUND
        assert sum(intruder.frames.values()) == 0
    finally:
        await intruder.leave()
        await teacher.leave()


async def test_client_vanishing_mid_ice_frees_everything(
    live_server: LiveServer, clip: Path
) -> None:
    from aiortc import RTCPeerConnection
    from aiortc.contrib.media import MediaPlayer

    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    await teacher.join()
    ghost = client(live_server, "school-ghost")
    await ghost.join()
    await teacher.grant_floor(ghost.participant_id)  # type: ignore[arg-type]
    # Publish, then vanish before ICE can complete: the socket and the peer go away at once.
    pc = RTCPeerConnection()
    player = MediaPlayer(str(clip), decode=False)
    pc.addTransceiver(player.video, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    mid = pc.getTransceivers()[0].mid
    await ghost.send(Publish(sdp=pc.localDescription.sdp, tracks=[TrackSpec(mid=mid)]))
    await teacher.wait_until(lambda: len(teacher.producers) == 1, within=10)
    await pc.close()
    player.video.stop()
    await ghost._ws.close()  # no leave: a dropped connection
    await teacher.wait_until(lambda: ghost.participant_id not in teacher.participants, within=10)
    await teacher.wait_until(
        lambda: not teacher.producers and teacher.floor.holder is None, within=5
    )
    hub = live_server.hub
    room = hub.rooms["lesson-1"]
    assert list(room.participants) == [teacher.participant_id]
    assert all(t.peer_id == teacher.participant_id for t in room.media.transports.values())
    await teacher.leave()
    await ghost.close()
    await asyncio.sleep(0.2)
    assert hub.rooms == {}
    assert dict(live_server.app.state.worker.rooms) == {}
    assert not room.tasks and room.closed and room.media.closed
    assert not room.media.transports


async def test_mute_unsubscribe_and_unpublish(live_server: LiveServer, clip: Path) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-a")
    other = client(live_server, "school-b")
    try:
        for c in (teacher, school, other):
            await c.join()
        mine = await school.publish_file(clip)
        await teacher.grant_floor(school.participant_id)  # type: ignore[arg-type]
        audio = next(p.id for p in mine if p.kind == "audio")
        video = next(p.id for p in mine if p.kind == "video")
        await other.wait_for_frames(3, producer_ids=[audio, video], within=15)

        muted: list[object] = []
        other.on_muted(muted.append)
        await teacher.mute(school.participant_id, "audio")  # type: ignore[arg-type]
        await other.wait_until(lambda: len(muted) == 1, within=5)
        room = live_server.hub.rooms["lesson-1"]
        producers = room.participants[school.participant_id].producers
        assert producers[audio].paused and not producers[video].paused
        assert other.participants[school.participant_id].muted == ["audio"]

        offers = other.offers
        await other.unsubscribe(video)
        await other.wait_until(lambda: other.offers > offers, within=10)  # m-section inactive
        await asyncio.sleep(0.3)
        assert await counts_after(other, [video], 0.8) == other.frames[video]
        with pytest.raises(SignalingError) as err:
            await other.unsubscribe(video)
        assert err.value.code is ErrorCode.NOT_FOUND

        await school.unpublish(video)
        await teacher.wait_until(lambda: video not in teacher.producers, within=5)
        assert audio in teacher.producers
    finally:
        for c in (school, other, teacher):
            await c.leave()


async def test_server_shutdown_closes_sessions_and_rooms(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-a")
    await teacher.join()
    producers = await teacher.publish_file(clip)
    await school.join()
    await school.wait_for_frames(3, producer_ids=[p.id for p in producers], within=15)
    worker = live_server.app.state.worker
    await live_server.stop()
    for c in (teacher, school):
        await c.wait_until(c.closed.is_set, within=5)
        assert c.close_reason is CloseReason.SERVER_SHUTDOWN
        await c.close()
    assert live_server.hub.rooms == {} and dict(worker.rooms) == {}
