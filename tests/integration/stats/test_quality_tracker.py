"""Per-stay network quality from the SFU's real consumer stats: a classroom receives the
teacher's media over loopback, leaves, and a `quality_sample` row appears for its stay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from clients.python import TongbuClient
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.db.models_supervision import QualitySample
from server.seed import seed_demo
from server.settings import Settings
from server.stats.quality import QualityTracker
from server.tokens import RoomRole
from tests.integration.api.conftest import FAST_AUTH, run_in_thread
from tests.integration.signaling.conftest import LiveServer, clip, live_server  # noqa: F401


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A migrated, seeded SQLite database, so room `lesson-1` is a real lesson."""
    s = Settings(data_dir=tmp_path / "data", auth=FAST_AUTH, log_level="WARNING", auto_record=False)

    async def prepare() -> None:
        await migrate.upgrade(s)
        db = Database.from_settings(s)
        await db.open()
        try:
            async with db.session() as session:
                await seed_demo(session, Passwords(s))
        finally:
            await db.close()

    run_in_thread(prepare)
    return s


@pytest.mark.media
async def test_stay_summary_is_written_when_the_classroom_leaves(
    live_server: LiveServer,  # noqa: F811
    clip: Path,  # noqa: F811
) -> None:
    tracker: QualityTracker = live_server.app.state.quality_tracker
    teacher = TongbuClient(
        live_server.url, live_server.token("teacher", RoomRole.TEACHER), decode=False
    )
    school = TongbuClient(live_server.url, live_server.token("classroom-7"), decode=False)
    try:
        await teacher.join()
        await school.join()
        producers = await teacher.publish_file(clip)
        await school.wait_for_frames(5, producer_ids=[p.id for p in producers], within=15)
        for _ in range(6):
            tracker.sample()
            await asyncio.sleep(0.5)
        stay = tracker.stays[("lesson-1", school.participant_id)]  # type: ignore[index]
        assert stay.video_ticks >= 1 and stay.last > stay.first
        await school.leave()
        db = live_server.app.state.db
        deadline = time.monotonic() + 10
        row = None
        while row is None and time.monotonic() < deadline:
            async with db.session() as session:
                row = await session.scalar(
                    sa.select(QualitySample).where(QualitySample.identity == "classroom-7")
                )
            await asyncio.sleep(0.1)
        assert row is not None, "no quality row after the leave"
        assert row.lesson_id == 1
        assert 0.0 <= row.loss <= 1.0 and row.rtt_ms >= 0.0
        assert 0.0 <= row.low_layer_share <= 1.0
        assert row.seconds >= 2.0  # six ticks half a second apart
        assert ("lesson-1", school.participant_id) not in tracker.stays
    finally:
        await school.close()
        await teacher.close()


def test_summary_means_and_low_layer_share() -> None:
    tracker = QualityTracker(hub=None)
    video_low = {"kind": "video", "layer": "low", "fraction_lost": 0.1, "rtt": 0.2}
    video_high = {"kind": "video", "layer": "high", "fraction_lost": 0.0, "rtt": 0.1}
    audio = {"kind": "audio", "fraction_lost": None, "rtt": None}
    tracker.record("lesson-1", "PA1", [video_low, audio], now=100.0)
    tracker.record("lesson-1", "PA1", [video_high, audio], now=110.0)
    tracker.record("lesson-1", "PA1", [audio], now=120.0)
    assert tracker.pop("lesson-1", "PA1") == {
        "loss": 0.05,
        "rtt_ms": 150.0,
        "low_layer_share": 0.5,
        "seconds": 20.0,
    }
    assert tracker.pop("lesson-1", "PA1") is None
