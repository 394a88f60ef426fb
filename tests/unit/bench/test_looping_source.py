"""The benchmark's publisher behaves like a camera: steady pts, and a keyframe on request."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.bench.clip import ensure_clip
from server.bench.source import LoopingPacketTrack, SendLog
from tests.conftest import require


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    return ensure_clip(tmp_path_factory.mktemp("clip"), width=64, height=48, fps=30, seconds=3)


async def test_a_keyframe_request_skips_to_the_next_keyframe_without_a_time_jump(
    clip: Path,
) -> None:
    log = SendLog()
    track = LoopingPacketTrack(clip, "video", log)
    track._t0 = -1e9  # no pacing in a unit test
    first = [await track.recv() for _ in range(5)]
    assert first[0].is_keyframe and not any(p.is_keyframe for p in first[1:])
    track.request_keyframe()
    forced = await track.recv()
    assert forced.is_keyframe and track.keyframes_forced == 1
    assert [p.pts for p in [*first, forced]] == [i * 3000 for i in range(6)]
    assert len(log.sends) == 6
    track.stop()
