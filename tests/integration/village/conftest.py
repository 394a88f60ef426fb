"""Village links: namespaces (root), a server on the host, classrooms inside the labs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.netlab import netlab_available
from tests.conftest import require
from tests.integration.signaling.conftest import clip, live_server  # noqa: F401  (shared)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def netlab() -> None:
    ok, what = netlab_available()
    require(ok, f"netlab ({what})")


class EchoServer:
    """A UDP echo on one host address, in a thread (for link checks without WebRTC)."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.port = int(self.sock.getsockname()[1])
        self.peers: list[str] = []  # source address of every datagram (NAT shows here)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
                self.peers.append(peer[0])
                self.sock.sendto(data, peer)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(2)


@pytest.fixture
def echo_factory() -> Iterator[type[EchoServer]]:
    made: list[EchoServer] = []

    class Factory(EchoServer):
        def __init__(self, address: str) -> None:
            super().__init__(address)
            made.append(self)

    yield Factory
    for server in made:
        server.close()


@pytest.fixture(scope="session")
def layer_clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A high (480x270, 600 kbit/s) and a low (240x136, 120 kbit/s) VP8 clip with Opus, 20 fps."""
    import shutil

    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    from server.bench.clip import ensure_clip

    cache = tmp_path_factory.mktemp("layer-clips")
    high = ensure_clip(cache, width=480, height=270, fps=20, seconds=4, video_kbps=600)
    low = ensure_clip(cache, width=240, height=136, fps=20, seconds=4, video_kbps=120)
    return high, low
