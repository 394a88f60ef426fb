"""同步评估 report page: totals and per-criterion means as computed by the API, printable."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveServer, login, screenshot


def test_report_page_renders_totals_and_comments(
    new_context: Any, live_server: LiveServer, make_lesson: Any
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 评课")
    scores = {"goals": 18, "interaction": 27, "media": 16, "outcome": 25}  # 86 of 100
    r = live_server.api("POST", "/api/evaluations", login="evaluator", json={
        "lesson_id": lesson.id, "rubric_id": seed.rubric_id, "scores": scores,
        "summary": "互动充分，接收课堂参与度高"})
    assert r.status_code == 201, r.text
    ev = r.json()["id"]
    for offset, text in ((95_000, "导入自然"), (30_000, "板书清楚")):
        c = live_server.api("POST", f"/api/evaluations/{ev}/comments", login="evaluator",
                            json={"offset_ms": offset, "text": text})
        assert c.status_code == 201, c.text

    page = new_context().new_page()
    login(page, "teacher", f"/web/report.html?lesson={lesson.id}")
    page.locator("#report").wait_for()
    assert "86" in page.locator("#mean-total").inner_text()
    assert "100" in page.locator("#mean-total").inner_text()
    means = {
        row.get_attribute("data-key"): row.locator(".mean").inner_text()
        for row in page.locator("#criteria tbody tr").all()
    }
    assert means == {"goals": "18", "interaction": "27", "media": "16", "outcome": "25"}
    assert page.locator("#evaluations .sum").all_inner_texts() == ["86"]
    # Comments on the timeline, in lesson-time order.
    items = page.locator("#comments li").all_inner_texts()
    assert items[0].startswith("00:30") and "板书清楚" in items[0]
    assert items[1].startswith("01:35") and "导入自然" in items[1]
    # Print styles hide the page chrome (PDF through the browser's print dialog).
    page.emulate_media(media="print")
    assert page.locator("header.app-header").is_hidden()
    assert page.locator("#print").is_hidden()
    page.emulate_media(media="screen")
    screenshot(page, "evaluation-report")

    # Another county's admin gets the typed refusal on the page, not numbers.
    other = new_context().new_page()
    login(other, "other_county_admin", f"/web/report.html?lesson={lesson.id}")
    other.locator("#report-error").wait_for()
    assert other.locator("#report").count() == 0
