"""课件同步 in the browser: the teacher uploads a PDF, opens it, turns a page and draws; a
receiving classroom (a paired device page, joined late) shows the same page with the ink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.test_live import open_classroom, open_teacher, start, wait_live
from tests.integration.courseware.conftest import pdf_bytes

pytestmark = pytest.mark.media


def test_teacher_uploads_a_pdf_turns_a_page_and_the_classroom_shows_it(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str],
    tmp_path: Path,
) -> None:
    seed = live_server.seed
    pdf = tmp_path / "分数的初步认识.pdf"
    pdf.write_bytes(pdf_bytes(3))
    lesson = make_lesson(title="三年级数学 · 课件同步")
    teacher = open_teacher(new_context, lesson.id)
    start(teacher)

    # Upload through the form: the server renders three pages.
    teacher.locator("#cw-file").set_input_files(str(pdf))
    teacher.locator("#cw-upload").click()
    teacher.wait_for_function(
        "() => document.getElementById('cw-upload-status').textContent.includes('3')"
    )
    assert "已上传" in teacher.locator("#cw-upload-status").inner_text()
    assert "分数的初步认识" in teacher.locator("#cw-docs").inner_text()
    teacher.locator("#cw-open").click()
    teacher.locator("#cw-stage[data-page='1']").wait_for()
    teacher.wait_for_function("() => document.getElementById('cw-page').naturalWidth > 0")

    # A classroom joins after the document was opened: it lands on the current page.
    room = open_classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])
    wait_live(room)
    room.locator(".classroom-stage.has-courseware #cw-stage[data-page='1']").wait_for()

    teacher.get_by_role("button", name="下一页").click()
    teacher.locator("#cw-pageno").filter(has_text="2 / 3").wait_for()
    room.locator("#cw-stage[data-page='2']").wait_for(timeout=5_000)
    room.wait_for_function(
        "() => { const i = document.getElementById('cw-page');"
        " return i.complete && i.naturalWidth === 1600 && i.src.endsWith('/2.jpg'); }"
    )

    # Ink: the teacher draws one stroke with the pen; the classroom paints it.
    teacher.locator("#cw-draw").click()
    box = teacher.locator("#cw-ink").bounding_box()
    assert box is not None
    teacher.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    teacher.mouse.down()
    for i in range(1, 11):
        teacher.mouse.move(box["x"] + box["width"] * (0.2 + 0.05 * i),
                           box["y"] + box["height"] * 0.3)
    teacher.mouse.up()
    room.locator("#cw-stage[data-strokes='1']").wait_for(timeout=5_000)
    red = room.evaluate(
        """() => { const c = document.getElementById('cw-ink'); const ctx = c.getContext('2d');
          const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 3] > 200) n++;
          return n; }"""
    )
    assert red > 50, f"no ink painted on the classroom's page ({red} red pixels)"
    screenshot(teacher, "teacher-courseware")
    screenshot(room, "classroom-courseware")

    # A non-PDF named .pdf is refused with a clear message, and nothing changes.
    fake = tmp_path / "假的.pdf"
    fake.write_bytes(b"<html>not a pdf</html>" * 10)
    teacher.locator("#cw-file").set_input_files(str(fake))
    teacher.locator("#cw-upload").click()
    teacher.locator("#toast").filter(has_text="只能上传 PDF").wait_for()
    assert room.locator("#cw-stage").get_attribute("data-page") == "2"
