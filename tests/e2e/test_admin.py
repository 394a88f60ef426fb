"""Admin journeys: timetable week view drag-to-move with the API's 409 clash warning."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e.conftest import TIMEZONE, LiveServer, login, screenshot

BEIJING = ZoneInfo(TIMEZONE)


def _next_week_day(weekday: int) -> date:
    today = datetime.now(BEIJING).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
    return monday + timedelta(days=weekday)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BEIJING)


def _drag(page: Any, block: Any, column: Any, minutes_from_7: int, grab_dy: float = 6) -> None:
    """Drag `block` (grabbed near its top) so its top lands at 07:00 + minutes in `column`."""
    b = block.bounding_box()
    c = column.bounding_box()
    hour_h = page.evaluate(
        "parseFloat(getComputedStyle(document.getElementById('week-grid'))"
        ".getPropertyValue('--hour-h'))"
    )
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + grab_dy)
    page.mouse.down()
    target_y = c["y"] + minutes_from_7 / 60 * hour_h + grab_dy
    page.mouse.move(c["x"] + c["width"] / 2, (b["y"] + target_y) / 2, steps=4)
    page.mouse.move(c["x"] + c["width"] / 2, target_y, steps=6)
    page.mouse.up()


def test_admin_drags_lesson_onto_clash_and_sees_warning(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    tuesday = _next_week_day(1)
    morning = make_lesson(title="数学 · 周二上午", start=_at(tuesday, 9), minutes=40)
    afternoon = make_lesson(title="音乐 · 周二下午", start=_at(tuesday, 14), minutes=40)

    page = new_context().new_page()
    login(page, "admin", f"/web/admin.html?tab=timetable&week={tuesday.isoformat()}")
    grid = page.locator("#week-grid")
    block = grid.locator(f".lesson-block[data-lesson-id='{afternoon.id}']")
    block.wait_for()
    assert grid.locator(f".lesson-block[data-lesson-id='{morning.id}']").is_visible()
    column = grid.locator(f".week-day[data-day='{tuesday.isoformat()}']")

    # Onto the morning lesson (same teacher and classrooms): the API answers 409.
    _drag(page, block, column, minutes_from_7=2 * 60 + 10)
    warning = page.locator("#clash-warning")
    warning.wait_for(state="visible")
    assert warning.get_attribute("data-code") == "conflict"
    text = warning.inner_text()
    assert "时间冲突" in text and "主讲教师已有课程" in text and "主讲教室已被占用" in text, text
    assert "数学 · 周二上午" in text and "09:00" in text, text
    screenshot(page, "admin-timetable-clash")
    unchanged = live_server.api("GET", f"/api/lessons/{afternoon.id}").json()
    assert datetime.fromisoformat(unchanged["starts_at"]) == afternoon.starts_at

    # Onto a free slot (16:00): moved, and the server agrees.
    block = grid.locator(f".lesson-block[data-lesson-id='{afternoon.id}']")
    _drag(page, block, column, minutes_from_7=9 * 60)
    page.locator("#toast[data-kind='ok']").wait_for(state="visible")
    moved = live_server.api("GET", f"/api/lessons/{afternoon.id}").json()
    assert datetime.fromisoformat(moved["starts_at"]) == _at(tuesday, 16)
    assert datetime.fromisoformat(moved["ends_at"]) == _at(tuesday, 16, 40)
    assert page.locator("#clash-warning").is_hidden()


def test_admin_creates_pairing_code_and_sees_org_tree(
    new_context: Any, live_server: LiveServer
) -> None:
    page = new_context().new_page()
    login(page, "admin", "/web/admin.html?tab=classrooms")
    table = page.locator("#classrooms-table")
    table.wait_for()
    target = live_server.seed.receiving_classroom_ids[2]
    page.get_by_role("button", name="为「接收教室 ᠠᠩᠭᠢ」生成设备配对码").click()
    code = page.locator(f"#pairing-{target} .code")
    code.wait_for()
    assert code.inner_text().isdigit() and len(code.inner_text()) == 6
    screenshot(page, "admin-classrooms")

    page.get_by_role("tab", name="组织机构").click()
    tree = page.locator("#org-tree")
    tree.wait_for()
    assert "正蓝旗" in tree.inner_text() and "正蓝旗第一小学" in tree.inner_text()
