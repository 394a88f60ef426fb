"""Playback (点播) in Chromium: two classrooms side by side stay in sync through play and seek.

The recording is made by the recorder's own writer on a short flash/beep clip
(`record_synthetic_lesson`: two classrooms joining 0.5 s and 1.2 s into the
lesson, VP8 + Opus WebM per track, mapped through sender reports) into the
e2e server's storage, and registered as a ready recording of a real lesson —
what the recorder process reports at the end of a lesson.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from recorder.testsignal import record_synthetic_lesson
from server.api.recording_state import recording_key, summarize
from server.db.engine import Database
from server.db.models import Lesson, Recording, RecordingState, utcnow
from tests.e2e.conftest import LiveServer, login, screenshot

SYNC_S = 0.1


def make_recording(live_server: LiveServer, lesson_id: int) -> int:
    settings = live_server.settings
    root = settings.storage_dir
    assert root is not None

    async def run() -> int:
        db = Database.from_settings(settings)
        await db.open()
        try:
            for _ in range(100):  # the API may answer before its transaction commits
                async with db.session() as session:
                    if await session.get(Lesson, lesson_id) is not None:
                        break
                await asyncio.sleep(0.05)
            async with db.session() as session:
                lesson = await session.get(Lesson, lesson_id)
                assert lesson is not None
                key = recording_key(lesson, utcnow())
                rec = record_synthetic_lesson(root / key, duration_s=6.0)
                manifest = rec.manifest.model_dump(mode="json")  # type: ignore[attr-defined]
                tracks, duration, size = summarize(manifest)
                row = Recording(lesson_id=lesson_id, state=RecordingState.READY, storage_key=key,
                                manifest=manifest, tracks=tracks, duration_ms=duration,
                                size_bytes=size, started_at=utcnow(), ended_at=utcnow())
                session.add(row)
                await session.flush()
                return row.id
        finally:
            await db.close()

    # Playwright's sync API owns this thread's event loop: run ours in another thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def positions(page: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.tongbuPlayback.positions()")
    return result


def wait_in_sync(page: Any, near_s: float | None = None, within: float = 10.0) -> list[float]:
    """Both videos active, showing the same lesson time (±SYNC_S), optionally near `near_s`."""
    deadline = time.monotonic() + within
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        last = positions(page)
        times = [p["lesson_s"] for p in last if p["readyState"] >= 2]
        if len(times) == 2 and max(times) - min(times) <= SYNC_S and (
                near_s is None or abs(times[0] - near_s) < 0.5):
            return times
        time.sleep(0.1)
    raise AssertionError(f"videos not in sync: {last}")


def test_two_classrooms_play_in_sync_through_seeks_and_take_comments(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    lesson = make_lesson(title="录播 · 两个课堂同步回放")
    rec_id = make_recording(live_server, lesson.id)
    page = new_context().new_page()
    login(page, "evaluator", "/web/playback.html")
    row = page.locator(f"#recording-table tr[data-recording-id='{rec_id}']")
    row.wait_for()
    assert "录播 · 两个课堂同步回放" in row.inner_text() and "可回放" in row.inner_text()
    row.get_by_role("link", name="回放").click()
    page.locator("#pb-tiles video").nth(1).wait_for()
    assert page.locator("#pb-tiles video").count() == 2
    assert page.locator("#pb-audio option").count() == 3  # two classrooms + muted

    # Seek while paused: every video shows the same lesson instant.
    page.locator("#pb-seek").fill("2500")
    times = wait_in_sync(page, near_s=2.5)
    assert all(abs(t - 2.5) < SYNC_S for t in times), times

    # Play, then seek while playing: still together, and still after a while.
    page.get_by_role("button", name="播放").click()
    time.sleep(1.0)
    page.locator("#pb-seek").fill("1500")
    wait_in_sync(page, near_s=1.6)
    time.sleep(1.5)
    times = wait_in_sync(page)
    assert 2.2 < times[0] < 4.5, times
    assert page.evaluate("!document.getElementById('pb-audio-el').paused")
    # One audio at a time: switching classrooms swaps the file and keeps the position.
    first_src = page.evaluate("document.getElementById('pb-audio-el').src")
    page.get_by_label("声音来自").select_option(index=1)
    page.wait_for_function(
        "src => { const a = document.getElementById('pb-audio-el');"
        " return a && a.src !== src && !a.paused && a.currentTime > 0; }", arg=first_src)
    assert page.locator("audio").count() == 1

    # A comment at the current time becomes a marker on the timeline.
    page.get_by_role("button", name="暂停").click()
    at_ms = page.evaluate("Math.round(window.tongbuPlayback.position())")
    page.get_by_label("在当前时间点评", exact=False).fill("两个课堂的互动很自然")
    page.get_by_role("button", name="添加点评").click()
    marker = page.locator(".pb-marker[data-kind='comment']")
    marker.wait_for()
    assert abs(int(marker.get_attribute("data-offset")) - at_ms) < 200
    assert "两个课堂的互动很自然" in page.locator("#pb-events").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "playback")

    # Clicking a marker seeks every classroom there.
    page.locator("#pb-seek").fill("5000")
    wait_in_sync(page)
    marker.click()
    wait_in_sync(page, near_s=at_ms / 1000)
