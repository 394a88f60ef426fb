"""Session fixtures for the media tests: short ffmpeg clips, demuxed once (never decoded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

from server.settings import MediaSettings
from tests.conftest import require
from tests.integration.media.peers import Clip


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=60)


def _demux(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [bytes(p) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    if shutil.which("ffmpeg") is None:
        require(False, "ffmpeg")
    d = tmp_path_factory.mktemp("clips")
    src = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"]
    _ffmpeg(*src, "-t", "2", "-c:v", "libvpx", "-g", "15", "-b:v", "300k",
            "-deadline", "realtime", "-an", str(d / "v.webm"))
    _ffmpeg(*src, "-t", "2", "-c:v", "libx264", "-profile:v", "baseline", "-g", "15",
            "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", str(d / "v.h264"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
            "-c:a", "libopus", "-ac", "2", "-frame_duration", "20", str(d / "a.webm"))
    return {
        "vp8": Clip("video/VP8", 90000, 3000, _demux(d / "v.webm", "video")),
        "h264": Clip("video/H264", 90000, 3000, _demux(d / "v.h264", "video")),
        "opus": Clip("audio/opus", 48000, 960, _demux(d / "a.webm", "audio")),
    }


@pytest.fixture
def media_settings() -> MediaSettings:
    return MediaSettings()
