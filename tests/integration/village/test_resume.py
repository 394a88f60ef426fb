"""Resume: a dropped participant keeps its place, comes back with its token, and abuse fails.

Real uvicorn + aiortc peers on loopback (no namespaces needed): the socket is
cut by aborting its TCP transport, as a link drop does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clients.python import SignalingError, TongbuClient
from server.tokens import RoomRole
from signaling.protocol import ErrorCode, Join, Joined
from tests.integration.signaling.conftest import LiveServer

pytestmark = pytest.mark.media


def client(server: LiveServer, identity: str, role: RoomRole = RoomRole.CLASSROOM, **kw):
    return TongbuClient(server.url, server.token(identity, role), decode=False, **kw)


def cut(c: TongbuClient) -> None:
    """Drop the socket without a close handshake (what a dead link looks like)."""
    c._ws.transport.abort()


class Watch:
    """What another participant sees about one participant id."""

    def __init__(self, observer: TongbuClient) -> None:
        self.states: list[tuple[str, str]] = []
        self.left: list[tuple[str, str]] = []
        observer.on_participant_updated(lambda info: self.states.append((info.id, info.state)))
        observer.on_participant_left(lambda pid, reason: self.left.append((pid, str(reason))))


async def _resume_raw(server: LiveServer, identity: str, token: str | None, **kw) -> Joined:
    raw = TongbuClient(server.url, server.token(identity), decode=False)
    await raw.connect()
    try:
        return await raw.request(Join(token=raw.token, resume_token=token, **kw), Joined)
    finally:
        await raw.close()


async def test_dropped_socket_keeps_the_place_and_media_goes_on(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-1", reconnect=True)
    try:
        await teacher.join()
        watch = Watch(teacher)
        ids = [p.id for p in await teacher.publish_file(clip)]
        joined = await school.join()
        assert joined.resume_token and joined.resume_grace == 30.0
        await school.wait_for_frames(10, producer_ids=ids, within=15)
        cut(school)
        await teacher.wait_until(lambda: (joined.participant_id, "reconnecting") in watch.states)
        await school.wait_until(lambda: school.reconnects == 1, within=15)
        assert school.participant_id == joined.participant_id
        assert school.joined is not None and school.joined.resumed
        assert school.resume_token != joined.resume_token  # rotated
        await teacher.wait_until(lambda: watch.states[-1] == (joined.participant_id, "connected"))
        before = sum(school.frames[i] for i in ids)
        await school.wait_until(lambda: sum(school.frames[i] for i in ids) > before + 20)
        assert watch.left == []  # never "left"
        assert not school.closed.is_set()
    finally:
        await school.leave()
        await teacher.leave()


async def test_after_the_grace_period_it_is_a_normal_leave_and_the_token_is_dead(
    live_server: LiveServer,
) -> None:
    live_server.settings.signaling.resume_grace = 1.0
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-1")  # does not reconnect by itself
    try:
        await teacher.join()
        watch = Watch(teacher)
        joined = await school.join()
        cut(school)
        await teacher.wait_until(lambda: (joined.participant_id, "reconnecting") in watch.states)
        assert watch.left == []
        await teacher.wait_until(lambda: watch.left != [], within=5)
        assert watch.left == [(joined.participant_id, "disconnected")]
        with pytest.raises(SignalingError) as refused:
            await _resume_raw(live_server, "school-1", joined.resume_token)
        assert refused.value.code in (ErrorCode.TOKEN_EXPIRED, ErrorCode.UNAUTHENTICATED)
    finally:
        await teacher.leave()
        await school.close()


async def test_resume_token_is_single_use_and_bound_to_its_identity(
    live_server: LiveServer,
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-1")
    try:
        await teacher.join()
        joined = await school.join()
        cut(school)
        await asyncio.sleep(0.3)
        with pytest.raises(SignalingError) as stolen:  # another identity's room token
            await _resume_raw(live_server, "school-2", joined.resume_token)
        assert stolen.value.code is ErrorCode.UNAUTHENTICATED
        with pytest.raises(SignalingError) as garbage:
            await _resume_raw(live_server, "school-1", "not-a-token")
        assert garbage.value.code is ErrorCode.UNAUTHENTICATED
        again = await _resume_raw(live_server, "school-1", joined.resume_token)
        assert again.resumed and again.participant_id == joined.participant_id
        with pytest.raises(SignalingError) as reused:  # the first use rotated it
            await _resume_raw(live_server, "school-1", joined.resume_token)
        assert reused.value.code is ErrorCode.UNAUTHENTICATED
    finally:
        await teacher.leave()
        await school.close()


async def test_a_flood_of_resume_attempts_is_rate_limited(live_server: LiveServer) -> None:
    live_server.settings.signaling.resume_attempts_per_minute = 3
    school = client(live_server, "school-1")
    try:
        joined = await school.join()
        codes = []
        for _ in range(5):
            try:
                await _resume_raw(live_server, "school-1", joined.resume_token)
            except SignalingError as exc:
                codes.append(exc.code)
        # the first attempt takes the place back; the next two reuse the rotated token
        assert codes[:2] == [ErrorCode.UNAUTHENTICATED] * 2
        assert codes[2:] == [ErrorCode.RATE_LIMITED] * 2
    finally:
        await school.close()


async def test_a_resume_that_never_answers_the_new_offer_is_cleaned_up(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-1")
    try:
        await teacher.join()
        watch = Watch(teacher)
        await teacher.publish_file(clip)
        joined = await school.join()
        await school.wait_until(lambda: school.offers >= 1)
        cut(school)
        await teacher.wait_until(lambda: (joined.participant_id, "reconnecting") in watch.states)
        raw = TongbuClient(live_server.url, live_server.token("school-1"), decode=False)
        raw._dispatch = lambda message: (  # type: ignore[method-assign]
            None if message.type == "offer" else TongbuClient._dispatch(raw, message)
        )
        await raw.connect()
        resumed = await raw.request(
            Join(token=raw.token, resume_token=joined.resume_token, restart_media=True), Joined
        )
        assert resumed.resumed
        # join_timeout is 3 s in live_server: no answer -> closed -> a normal leave
        await teacher.wait_until(lambda: watch.left != [], within=10)
        assert watch.left[0][0] == joined.participant_id
        await raw.closed.wait()
        await raw.close()
    finally:
        await teacher.leave()
        await school.close()


async def test_failed_peer_connections_are_rebuilt_on_resume(
    live_server: LiveServer, clip: Path
) -> None:
    teacher = client(live_server, "teacher", RoomRole.TEACHER)
    school = client(live_server, "school-1", reconnect=True)
    try:
        await teacher.join()
        ids = [p.id for p in await teacher.publish_file(clip)]
        joined = await school.join()
        await school.wait_for_frames(10, producer_ids=ids, within=15)
        assert school._recv_pc is not None
        old_pc = school._recv_pc
        await old_pc.close()  # the peer connection died with the link
        cut(school)
        await school.wait_until(lambda: school.reconnects == 1, within=15)
        assert school.participant_id == joined.participant_id
        await school.wait_until(lambda: school._recv_pc not in (None, old_pc), within=10)
        before = sum(school.frames[i] for i in ids)
        await school.wait_until(lambda: sum(school.frames[i] for i in ids) > before + 20, within=15)
    finally:
        await school.leave()
        await teacher.leave()
