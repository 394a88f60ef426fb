"""Lesson library in Chromium: publish a recording, search it, play it, see the view count
go up; the page in traditional Mongolian (vertical titles) for docs/screenshots/library-mn.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from server.db.engine import Database
from server.db.models import Recording, RecordingState
from tests.conftest import require
from tests.e2e.conftest import LiveServer, login, screenshot
from tests.integration.api.conftest import run_in_thread


def _recording(live_server: LiveServer, name: str) -> int:
    """A recording whose export exists (an 4 s H.264/AAC MP4 of a moving test picture)."""
    require(shutil.which("ffmpeg") is not None, "ffmpeg")
    storage = live_server.settings.storage_dir
    assert storage is not None
    export = storage / name / "export"
    export.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-g", "50", "-c:a", "aac", "-shortest", str(export / f"{name}.mp4")], check=True)

    async def insert() -> int:
        db = Database.from_settings(live_server.settings)
        await db.open()
        try:
            async with db.session() as session:
                rec = Recording(lesson_id=live_server.seed.lesson_ids[0], storage_key=name,
                                state=RecordingState.READY)
                session.add(rec)
                await session.flush()
                return rec.id
        finally:
            await db.close()

    return int(run_in_thread(insert))  # Playwright's loop runs in this thread


@pytest.mark.timeout(300)
def test_teacher_publishes_searches_plays_and_the_view_count_goes_up(
    new_context: Any, live_server: LiveServer
) -> None:
    rid = _recording(live_server, "e2e-library")
    page = new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "teacher", "/web/library.html")
    page.get_by_role("heading", name="发布录播课").wait_for()
    page.select_option("#pub-recording", value=str(rid))
    page.get_by_label("标题（默认用课程名）").fill("分数的初步认识")
    page.get_by_label("学科").last.fill("数学")
    page.get_by_label("标签").fill("分数，三年级")
    page.get_by_label("简介").fill("用圆和长方形认识几分之一。")
    page.get_by_role("button", name="发布", exact=True).click()
    # Publishing exports HLS and a thumbnail, then opens the entry.
    title = page.locator("#lib-detail-title")
    title.wait_for(timeout=120_000)  # a loaded CI machine runs ffmpeg slowly
    assert title.inner_text() == "分数的初步认识"
    assert page.locator("#lib-views").inner_text() == "观看 0 次"

    # Search finds it by a word inside the description; nonsense finds nothing.
    page.get_by_label("关键词").fill("几分之一")
    page.get_by_role("button", name="搜索").click()
    page.locator("#lib-count").filter(has_text="共 1 节课").wait_for()
    card = page.locator("#lib-grid .lib-card").first
    assert "分数的初步认识" in card.inner_text()
    # The thumbnail loads (waited for: the card is rendered before its image arrives).
    page.wait_for_function(
        "() => { const img = document.querySelector('#lib-grid .lib-card img');"
        " return img && img.complete && img.naturalWidth > 0; }", timeout=15_000)
    page.get_by_label("关键词").fill("不存在的课程名称")
    page.get_by_role("button", name="搜索").click()
    page.locator("#lib-empty").wait_for()
    page.get_by_label("关键词").fill("分数")
    page.get_by_role("button", name="搜索").click()
    page.locator("#lib-count").filter(has_text="共 1 节课").wait_for()

    # Play: the HLS stream runs and the first playback counts one view.
    page.locator("#lib-grid .lib-card").first.click()
    video = page.locator("#lib-video")
    video.wait_for()
    # hls.js attaches the stream first (readyState ≥ 2: a frame is decoded), then play.
    page.wait_for_function(
        "() => { const v = document.getElementById('lib-video'); return v && v.readyState >= 2; }",
        timeout=30_000)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => { const v = document.getElementById('lib-video'); "
        "return v && v.currentTime > 1.0 && v.videoWidth === 640; }", timeout=60_000)
    page.locator("#lib-views").filter(has_text="观看 1 次").wait_for()
    assert re.search(r"观看 1 次", page.locator("#lib-grid").inner_text())
    screenshot(page, "library-zh")
    assert not errors, errors


def test_library_page_in_traditional_mongolian(new_context: Any, live_server: LiveServer) -> None:
    rid = _recording(live_server, "e2e-library-mn")
    r = live_server.api("POST", "/api/library", login="teacher", json={
        "recording_id": rid, "title": "ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ · ᠭᠤᠷᠪᠠᠳᠤᠭᠠᠷ ᠬᠢᠴᠢᠶᠡᠯ", "language": "mn",
        "subject": "蒙古语文", "tags": ["蒙古语授课"]})
    assert r.status_code == 201, r.text
    page = new_context().new_page()
    login(page, "teacher", f"/web/library.html?lang=mn-Mong&entry={r.json()['id']}")
    page.locator("#lib-detail-title").wait_for()
    assert page.evaluate("document.documentElement.lang") == "mn-Mong"
    heading = page.locator("#lib-find-title")
    assert re.search("[\u1820-\u18af]", heading.inner_text())
    assert heading.evaluate("e => getComputedStyle(e).writingMode") == "vertical-lr"
    card_title = page.locator("#lib-grid .lib-title").first
    assert card_title.evaluate("e => getComputedStyle(e).writingMode") == "vertical-lr"
    box = card_title.bounding_box()
    assert box is not None and box["height"] > box["width"]  # written top to bottom
    assert "Mongolian" in page.evaluate("getComputedStyle(document.documentElement).fontFamily")
    page.locator("#lang-select").wait_for()
    assert "mn-Mong" in page.locator("#lang-select option").evaluate_all(
        "os => os.map(o => o.value)")
    screenshot(page, "library-mn")
