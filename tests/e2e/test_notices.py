"""Timetable notices in Chromium: a short-notice lesson reaches the teacher's inbox, marked read;
the admin publishes a week and sees the short-notice list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.conftest import LiveServer, login, screenshot


def test_teacher_reads_notices_and_admin_publishes_the_week(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    lesson = make_lesson(starts_in=timedelta(hours=20), title="音乐 · 临时调课")  # < 48 h
    page = new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "teacher", "/web/notices.html")
    item = page.locator("#notices-list li[data-kind='lesson_created']").first
    item.wait_for()
    assert "音乐 · 临时调课" in item.inner_text() and "不足两天" in item.inner_text()
    page.get_by_role("button", name="全部标为已读").click()
    page.locator("#notices-list li[data-read='1']").first.wait_for()
    assert page.locator("#notices-list li[data-read='0']").count() == 0
    page.get_by_role("button", name="生成日历订阅地址").click()
    page.locator("#notices-feed-url").filter(has_text=".ics").wait_for()
    assert not errors, errors

    admin = new_context().new_page()
    login(admin, "county_admin", "/web/notices.html")
    short = admin.locator("#notices-short")
    short.wait_for()
    assert "音乐 · 临时调课" in short.inner_text()
    admin.select_option("#publish-unit", label="正蓝旗")
    admin.fill("#publish-week", lesson.starts_at.date().isoformat())
    admin.get_by_role("button", name="发布本周课表").click()
    admin.locator("#notices-publish-result").filter(has_text="已发布").wait_for()
    screenshot(admin, "notices-admin")
