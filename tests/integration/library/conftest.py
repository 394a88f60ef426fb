"""Library tests run on the API suite's seeded world (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import subprocess
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


@pytest.fixture(scope="session")
def exported_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s two-classroom recording of the flash/beep signal (recorder layout), not exported."""
    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    from recorder.testsignal import record_synthetic_lesson

    d = tmp_path_factory.mktemp("library-src") / "lesson-lib"
    record_synthetic_lesson(d, duration_s=3.0)
    return d


@pytest.fixture(scope="session")
def small_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s H.264 + AAC MP4 (a 微课 upload and a ready export)."""
    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    out = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(out)], check=True)
    return out
