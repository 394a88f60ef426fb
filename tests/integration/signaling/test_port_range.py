"""With a UDP port range configured, every ICE host candidate of the server is inside it,
and media still flows (publish and subscribe)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from clients.python import TongbuClient
from media.ports import PortRangeExhausted, bind_in_range
from server.settings import Settings
from server.tokens import RoomRole
from tests.integration.signaling.conftest import LiveServer

pytestmark = pytest.mark.media

LOW, HIGH = 47100, 47140
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host", re.MULTILINE)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.media.udp_port_min = LOW
    settings.media.udp_port_max = HIGH
    return settings


def _host_ports(sdp: str) -> set[int]:
    return {int(m.group(2)) for m in _CANDIDATE.finditer(sdp)}


async def test_server_candidates_stay_in_the_range(live_server: LiveServer, clip: Path) -> None:
    teacher = TongbuClient(live_server.url, live_server.token("teacher", RoomRole.TEACHER))
    classroom = TongbuClient(live_server.url, live_server.token("school-1"))
    try:
        await teacher.join()
        producers = await teacher.publish_file(clip)
        await classroom.join()
        await classroom.wait_for_frames(5, producer_ids=[p.id for p in producers], within=20)
        ports = set()
        for pc in (teacher._send_pc, classroom._recv_pc):
            assert pc is not None and pc.remoteDescription is not None
            ports |= _host_ports(pc.remoteDescription.sdp)
        assert ports, "the server offered host candidates"
        assert all(LOW <= p <= HIGH for p in ports), ports
    finally:
        await classroom.leave()
        await teacher.leave()


def test_a_full_range_is_a_clear_error() -> None:
    taken = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for i, s in enumerate(taken):
            s.bind(("127.0.0.1", 47150 + i))
        with pytest.raises(PortRangeExhausted, match="47150-47152"):
            bind_in_range("127.0.0.1", 47150, 47152)
    finally:
        for s in taken:
            s.close()
