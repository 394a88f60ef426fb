"""Broadcast tests: real ffmpeg receivers (RTMP server with `-listen 1`, MPEG-TS over UDP)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.integration.api.conftest import (  # noqa: F401 - fixtures
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)
from tests.integration.signaling.conftest import clip, live_server  # noqa: F401 - fixtures


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """An ffmpeg process receiving a stream and copying it into `out`."""

    url: str
    out: Path
    proc: subprocess.Popen[bytes]

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            return self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[object]:
    require(shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None,
            "ffmpeg and ffprobe")
    started: list[Receiver] = []

    def start(kind: str, seconds: float) -> Receiver:
        out = tmp_path / f"received-{len(started)}.{'flv' if kind == 'rtmp' else 'ts'}"
        if kind == "rtmp":
            port = free_port()
            url = f"rtmp://127.0.0.1:{port}/live/secret-key"
            args = ["-listen", "1", "-timeout", "20", "-i", url]
        elif kind == "srt":
            port = free_port(socket.SOCK_DGRAM)
            url = f"srt://127.0.0.1:{port}"
            args = ["-i", f"{url}?mode=listener&timeout=20000000"]
        else:
            port = free_port(socket.SOCK_DGRAM)
            url = f"udp://127.0.0.1:{port}"
            args = ["-i", f"{url}?timeout=20000000&fifo_size=100000&overrun_nonfatal=1"]
        proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args,
             "-c", "copy", "-t", str(seconds), str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(Receiver(url, out, proc))
        time.sleep(0.5)  # let it bind before anyone sends
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.fixture(scope="session")
def playout_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s moving test picture (H.264 + AAC), 320x240 at 15 fps."""
    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    out = tmp_path_factory.mktemp("playout") / "lesson.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-g", "15", "-c:a", "aac", "-shortest", str(out)], check=True)
    return out
