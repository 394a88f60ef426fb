"""Dashboard (督导统计) in Chromium: chart and table, drill-down to a school and a lesson,
CSV export, as a county admin and as the province admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import LiveServer, login, screenshot


def _held_lesson(live_server: LiveServer, make_lesson: Any) -> int:
    """A lesson that really ran: started and ended through the API by its teacher."""
    slot = make_lesson(title="督导 · 已上完的课", minutes=20)
    for action in ("start", "end"):
        r = live_server.api("POST", f"/api/lessons/{slot.id}/{action}", login="teacher")
        assert r.status_code == 200, r.text
    return slot.id


def test_county_admin_drills_down_to_a_lesson(
    new_context: Any, live_server: LiveServer, make_lesson: Any, tmp_path: Path
) -> None:
    seed = live_server.seed
    lesson_id = _held_lesson(live_server, make_lesson)
    page = new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "county_admin", "/web/dashboard.html")

    held = page.locator("#kpis [data-metric='lessons_held'] .value")
    held.wait_for()
    assert int(held.inner_text()) >= 1
    page.locator("#series-chart canvas").wait_for()  # uPlot drew the charts
    page.locator("#share-chart canvas").wait_for()
    assert page.locator("#breadcrumb").inner_text().strip() == "正蓝旗"
    township_row = page.locator(f"#children-table tr[data-unit-id='{seed.township_id}']")
    township_row.wait_for()
    assert "上都镇" in township_row.inner_text()

    with page.expect_download() as info:
        page.locator("#export-csv").click()
    saved = tmp_path / "children.csv"
    info.value.save_as(saved)
    header = saved.read_text("utf-8-sig").splitlines()[0]
    assert header.startswith("unit_id,unit_name,level,lessons_scheduled")

    township_row.get_by_role("link").click()
    school_row = page.locator(f"#children-table tr[data-unit-id='{seed.main_school_id}']")
    school_row.wait_for()
    school_row.get_by_role("link").click()

    lesson_row = page.locator(f"#lessons-table tr[data-lesson-id='{lesson_id}']")
    lesson_row.wait_for()
    assert "已结束" in lesson_row.inner_text()
    screenshot(page, "dashboard-school")
    lesson_row.get_by_role("link").click()
    detail = page.locator("#lesson-detail")
    detail.wait_for()
    assert "督导 · 已上完的课" in detail.inner_text()
    types = page.locator("#lesson-events li").evaluate_all("els => els.map(e => e.dataset.type)")
    assert "lesson.started" in types and "lesson.ended" in types
    breadcrumb = page.locator("#breadcrumb").inner_text()
    assert "正蓝旗" in breadcrumb and "正蓝旗第一小学" in breadcrumb
    assert errors == []


def test_province_admin_sees_the_cities_and_a_county_admin_not_the_province(
    new_context: Any, live_server: LiveServer
) -> None:
    seed = live_server.seed
    page = new_context().new_page()
    login(page, "admin", "/web/dashboard.html")
    page.locator(f"#children-table tr[data-unit-id='{seed.city_id}']").wait_for()
    page.locator("#series-chart canvas").wait_for()
    screenshot(page, "dashboard-province")

    other = new_context().new_page()
    login(other, "county_admin", f"/web/dashboard.html?unit={seed.province_id}")
    error = other.locator("#dash-error")
    error.wait_for()
    assert error.get_attribute("data-code") == "permission_denied"
