"""Shared recordings for the recorder integration tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.testsignal import record_synthetic_lesson


@pytest.fixture(scope="session")
def lesson_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 s two-classroom recording of the flash/beep signal, SR-mapped."""
    d = tmp_path_factory.mktemp("lesson") / "lesson-ok"
    record_synthetic_lesson(d)
    return d
