"""Research and meeting rooms with real aiortc peers: who is heard, and screen sharing.

同步教研 (`kind="research"`): every participant publishes and is heard at once.
同步视讯 (`kind="meeting"`): a participant is heard, and seen by the other participants,
only after the host grants the floor (the host sees every picture, as a teacher sees the
classroom tiles); the host's screen share reaches everyone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiortc.contrib.media import MediaPlayer

from clients.python import TongbuClient
from clients.python.client import PublishTrack
from server.tokens import RoomRole, issue_room_token
from tests.integration.signaling.conftest import LiveServer

pytestmark = [pytest.mark.media, pytest.mark.slow]


def _client(
    server: LiveServer, room: str, identity: str, role: RoomRole, kind: str
) -> TongbuClient:
    token = issue_room_token(
        server.settings.ensure_secret(), room=room, identity=identity, role=role, ttl=600,
        name=identity, kind=kind,  # type: ignore[arg-type]
    )
    return TongbuClient(server.url, token, decode=False)


def _video(producers: list) -> str:  # type: ignore[type-arg]
    return next(p.id for p in producers if p.kind == "video")


async def test_everyone_publishes_in_a_research_room(live_server: LiveServer, clip: Path) -> None:
    a = _client(live_server, "research-7", "t-a", RoomRole.RESEARCHER, "research")
    b = _client(live_server, "research-7", "t-b", RoomRole.RESEARCHER, "research")
    async with a, b:
        va = _video(await a.publish_file(clip))
        vb = _video(await b.publish_file(clip))
        # Neither is a moderator and nobody granted a floor: both are heard and seen.
        await b.wait_for_frames(10, producer_ids=[va], within=30)
        await a.wait_for_frames(10, producer_ids=[vb], within=30)


async def test_meeting_participant_is_heard_only_after_the_host_grants(
    live_server: LiveServer, clip: Path
) -> None:
    room = "meeting-3"
    host = _client(live_server, room, "host", RoomRole.TEACHER, "meeting")
    speaker = _client(live_server, room, "school-1", RoomRole.PARTICIPANT, "meeting")
    listener = _client(live_server, room, "school-2", RoomRole.PARTICIPANT, "meeting")
    async with host, speaker, listener:
        published = await speaker.publish_file(clip)
        video = _video(published)
        audio = next(p.id for p in published if p.kind == "audio")
        await host.wait_until(lambda: audio in host.producers, within=10)
        # The host sees every participant's picture (a teacher's tiles) but hears nobody, and
        # the other participants get nothing of a participant without the floor.
        await host.wait_for_frames(10, producer_ids=[video], within=30)
        await asyncio.sleep(1.0)  # live audio would be ~50 Opus frames by now
        assert host.frames[audio] == 0
        assert listener.frames[video] == 0 and listener.frames[audio] == 0
        await speaker.request_floor()
        await host.wait_until(lambda: speaker.participant_id in host.floor.queue)
        assert speaker.participant_id is not None
        await host.grant_floor(speaker.participant_id)
        await host.wait_for_frames(10, producer_ids=[audio], within=30)
        await listener.wait_for_frames(10, producer_ids=[video, audio], within=30)
        # The host shares a screen: everyone receives a producer with source "screen".
        player = MediaPlayer(str(clip), loop=True, decode=False)
        try:
            shared = await host.publish([PublishTrack(player.video, "screen", "high", "video/VP8")])
            screen = shared[0]
            assert screen.source == "screen"
            await listener.wait_until(
                lambda: listener.producers.get(screen.id) is not None
                and listener.producers[screen.id].source == "screen",
                within=10,
            )
            await listener.wait_for_frames(10, producer_ids=[screen.id], within=30)
            await speaker.wait_for_frames(10, producer_ids=[screen.id], within=30)
        finally:
            if player.video is not None:
                player.video.stop()
