"""巡课 in Chromium: a teacher's browser publishes; the county admin's patrol grid shows the
lesson's low-layer thumbnail (real WebRTC), opens it unseen and flags an issue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, login, screenshot
from tests.e2e.test_live import open_teacher, start

pytestmark = pytest.mark.media

PLAYING = """(sel) => {
  const v = document.querySelector(sel);
  return !!v && v.videoWidth > 0 && v.currentTime > 0.3;
}"""


def test_admin_patrols_a_live_lesson_unseen_and_flags_it(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    slot = make_lesson(title="巡课 · 数学")
    teacher = open_teacher(new_context, slot.id)
    start(teacher)

    page = new_context().new_page()
    login(page, "county_admin", "/web/patrol.html")
    tile = page.locator(f".patrol-tile[data-lesson-id='{slot.id}']")
    tile.wait_for()
    page.wait_for_function(
        PLAYING, arg=f".patrol-tile[data-lesson-id='{slot.id}'] video", timeout=30_000
    )
    assert tile.get_attribute("data-state") == "connected"
    screenshot(page, "patrol-grid")

    # The patrol is hidden: the teacher's participant list never shows it.
    identities = teacher.evaluate(
        "() => [...window.tongbu.session.participants.values()].map(p => p.identity || p.name)"
    )
    assert not any("patrol" in str(i) for i in identities), identities

    tile.get_by_role("button", name="打开 巡课 · 数学").click()
    page.locator("#patrol-focus").wait_for()
    page.wait_for_function(PLAYING, arg="#focus-video", timeout=20_000)
    page.get_by_label("问题类型").select_option("no_audio")
    page.get_by_label("说明").fill("接收教室听不到老师")
    page.get_by_role("button", name="提交").click()
    page.locator("#flag-list li").wait_for()
    assert "无声音" in page.locator("#flag-list").inner_text()
    screenshot(page, "patrol-flag")

    events = live_server.api("GET", f"/api/lessons/{slot.id}/events", login="county_admin").json()
    flagged = [e for e in events["items"] if e["type"] == "patrol.flagged"]
    assert len(flagged) == 1 and flagged[0]["payload"]["note"] == "接收教室听不到老师"
