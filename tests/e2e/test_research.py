"""同步教研 in the browser: a teacher convenes a session through the form, a researcher joins;
both see each other without any floor, the researcher (not a moderator) shows courseware,
and a note is added to the course."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, login, screenshot, wait_for_frames
from tests.e2e.test_meeting import TILE_FRAMES
from tests.integration.courseware.conftest import pdf_bytes

pytestmark = pytest.mark.media

PUBLISHED = (
    "() => window.tongbu && window.tongbu.session"
    " && window.tongbu.session.published.some(e => e.producerId)"
)


def test_teachers_of_two_schools_meet_share_a_document_and_take_notes(
    new_context: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    seed = live_server.seed
    researcher = seed.accounts["researcher"].user_id
    host = new_context().new_page()
    login(host, "teacher", "/web/research.html")
    host.locator("#research-form").wait_for()
    host.locator("#research-title").fill("分数的初步认识 · 集体备课")
    host.locator("#research-users").fill(str(researcher))
    host.locator("#research-course").select_option(str(seed.course_ids[0]))
    host.locator("#research-create").click()
    host.wait_for_url("**/research.html?session=*")
    session_id = host.url.rsplit("=", 1)[1]
    host.wait_for_function(PUBLISHED)

    guest = new_context().new_page()
    login(guest, "researcher", "/web/research.html")
    guest.locator(f"#research-table tr[data-session-id='{session_id}'] a").click()
    guest.wait_for_function(PUBLISHED)
    # Everyone publishes in 同步教研: each sees the other's camera without a grant.
    hid = host.evaluate("window.tongbu.session.participantId")
    gid = guest.evaluate("window.tongbu.session.participantId")
    wait_for_frames(host, f"() => ({TILE_FRAMES})({f'{gid}:camera'!r})", minimum=10)
    wait_for_frames(guest, f"() => ({TILE_FRAMES})({f'{hid}:camera'!r})", minimum=10)

    # The researcher uploads and opens a document; the host's stage follows page turns.
    pdf = tmp_path / "教案.pdf"
    pdf.write_bytes(pdf_bytes(2))
    guest.locator("#cw-file").set_input_files(str(pdf))
    guest.locator("#cw-upload").click()
    guest.locator("#cw-upload-status").filter(has_text="2").wait_for()
    guest.locator("#cw-open").click()
    guest.locator("#cw-next").click()
    host.locator("#cw-stage[data-page='2']").wait_for(timeout=5_000)

    # A note on the course, seen by the other member.
    guest.locator("#note-title").fill("村小的做法")
    guest.locator("#note-body").fill("先用实物分一分，再画图。")
    guest.locator("#note-save").click()
    guest.locator("#notes li").filter(has_text="村小的做法").wait_for()
    host.reload()
    host.locator("#notes li").filter(has_text="村小的做法").wait_for()
    screenshot(guest, "research-room")
