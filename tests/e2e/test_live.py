"""Live lesson journeys over real WebRTC: Chromium pages ↔ the aiortc SFU of a real server.

Media assertions read `inbound-rtp.framesDecoded` from the pages' receiving
RTCPeerConnection (`pc.getStats()`), sampled twice so a frozen stream fails.
At most four media pages are open at once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, login, screenshot, wait_for_frames

pytestmark = pytest.mark.media

# Highest framesDecoded over the page's received video tracks (null before joining).
ANY_VIDEO = """async () => {
  const s = window.tongbu && window.tongbu.session;
  if (!s || !s.sub) return null;
  const stats = await s.inboundVideo();
  return stats.reduce((m, x) => Math.max(m, x.framesDecoded || 0), 0);
}"""

# framesDecoded of the video track shown in one <video> element (by CSS selector).
SHOWN_IN = """async (selector) => {
  const s = window.tongbu && window.tongbu.session;
  const v = document.querySelector(selector);
  if (!s || !s.sub || !v || !v.srcObject) return null;
  const track = v.srcObject.getVideoTracks()[0];
  if (!track) return null;
  const stats = await s.inboundVideo();
  const mine = stats.find((x) => x.trackIdentifier === track.id);
  return mine ? (mine.framesDecoded || 0) : 0;
}"""


def frames_growing(page: Any, expr: str, arg: Any = None, minimum: int = 10) -> tuple[int, int]:
    probe = expr if arg is None else f"() => ({expr})({arg!r})"
    first = wait_for_frames(page, probe, minimum=minimum)
    time.sleep(1.0)
    second = page.evaluate(expr) if arg is None else page.evaluate(expr, arg)
    assert second > first, f"video froze: framesDecoded {first} → {second}"
    return first, second


def open_teacher(new_context: Any, lesson_id: int) -> Any:
    page = new_context(viewport=(1366, 768)).new_page()
    login(page, "teacher", f"/web/teacher.html?lesson={lesson_id}")
    page.locator("#device-message[data-key='devices.ok']").wait_for()
    return page


def start(page: Any) -> None:
    page.get_by_role("button", name="开始上课").click()
    page.locator("#tiles").wait_for(state="attached")
    page.wait_for_function(
        "() => window.tongbu.session && window.tongbu.session.published.some(e => e.producerId)"
    )


def open_classroom(
    new_context: Any, token: str | None, viewport: tuple[int, int] = (1366, 768)
) -> Any:
    page = new_context(viewport=viewport, device_token=token).new_page()
    page.goto("/classroom?poll=700")
    return page


def wait_live(page: Any) -> None:
    page.wait_for_function(
        "() => window.tongbu.phase === 'live' && window.tongbu.session"
        " && window.tongbu.session.participantId"
    )


def test_teacher_starts_lesson_and_two_classrooms_receive_video(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 分数的初步认识")

    # Classroom A pairs through the form on first use, then waits for the lesson.
    room_a = open_classroom(new_context, None)
    room_a.get_by_label("配对码").fill(live_server.pairing_code(seed.receiving_classroom_ids[2]))
    room_a.get_by_role("button", name="配对").click()
    room_a.locator("#waiting").wait_for()
    assert "等待上课" in room_a.locator("#waiting").inner_text()
    assert "三年级数学 · 分数的初步认识" in room_a.locator("#next-lesson").inner_text()
    assert room_a.evaluate("localStorage.getItem('tongbu.device')")
    screenshot(room_a, "classroom-waiting")
    # Classroom B was paired before (token in localStorage), on a 1080p TV.
    token_b = device_tokens[seed.receiving_classroom_ids[0]]
    room_b = open_classroom(new_context, token_b, (1920, 1080))
    room_b.locator("#waiting").wait_for()

    teacher = open_teacher(new_context, lesson.id)
    screenshot(teacher, "teacher-prejoin")
    start(teacher)
    assert live_server.api("GET", f"/api/lessons/{lesson.id}").json()["state"] == "live"

    # Both classrooms join by themselves and decode the teacher's video.
    for room in (room_a, room_b):
        wait_live(room)
        frames_growing(room, ANY_VIDEO)
        room.wait_for_function("() => document.getElementById('main-video').videoWidth > 0")
    # The teacher sees one tile per receiving classroom.
    teacher.wait_for_function("() => document.querySelectorAll('#tiles .tile').length === 2")
    names = teacher.locator("#tiles .tile .name").all_inner_texts()
    assert sorted(names) == sorted(["接收教室 ᠠᠩᠭᠢ", "接收教室 一年级"]), names
    time.sleep(0.5)
    screenshot(room_b, "classroom-live")
    screenshot(teacher, "teacher-live")

    teacher.get_by_role("button", name="结束课程").click()
    teacher.get_by_role("button", name="确认结束本节课").click()
    teacher.locator("#lesson-ended").wait_for()
    assert live_server.api("GET", f"/api/lessons/{lesson.id}").json()["state"] == "ended"
    # The classrooms go back to waiting once the room closes.
    room_b.locator("#waiting").wait_for(timeout=20_000)


def test_teacher_grants_floor_and_receives_classroom_video(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="蒙古语文 · 连麦练习")
    teacher = open_teacher(new_context, lesson.id)
    start(teacher)
    room = open_classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])
    wait_live(room)
    frames_growing(room, ANY_VIDEO)
    # The classroom publishes at once; the teacher sees its tile at once (pictures always
    # flow to the teacher), but the classroom is heard only once it has the floor.
    room.wait_for_function(
        "() => window.tongbu.session.published.length >= 2"
        " && window.tongbu.session.published.every(e => e.producerId)"
    )

    tile = teacher.locator("#tiles .tile").first
    tile.wait_for()
    pid = tile.get_attribute("data-participant-id")
    selector = f".tile[data-participant-id='{pid}'] video"
    wait_for_frames(teacher, f"() => ({SHOWN_IN})({selector!r})", minimum=10)

    room.get_by_role("button", name="举手").click()
    tile.locator(".hand-icon").wait_for(state="visible")
    assert "接收教室 一年级" in teacher.locator("#hand-queue").inner_text()

    tile.get_by_role("button", name="连麦 · 接收教室 一年级").click()
    room.locator("#floor-banner").wait_for(state="visible")
    first = teacher.evaluate(SHOWN_IN, selector)
    time.sleep(1.0)
    assert teacher.evaluate(SHOWN_IN, selector) > first
    assert tile.get_attribute("class") and "has-floor" in tile.get_attribute("class")
    screenshot(teacher, "teacher-floor")

    tile.get_by_role("button", name="结束连麦 · 接收教室 一年级").click()
    room.locator("#floor-banner").wait_for(state="hidden")
    teacher.wait_for_function(
        f"() => !document.querySelector(\"{selector}\").closest('.tile')"
        ".classList.contains('has-floor')"
    )


def test_evaluator_joins_hidden_and_switches_views(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级音乐 · 草原之歌")
    teacher = open_teacher(new_context, lesson.id)
    start(teacher)
    room = open_classroom(new_context, device_tokens[seed.receiving_classroom_ids[1]])
    wait_live(room)
    teacher.wait_for_function("() => document.querySelectorAll('#tiles .tile').length === 1")

    evaluator = new_context(viewport=(1366, 768)).new_page()
    login(evaluator, "evaluator", "/web/evaluator.html")
    row = evaluator.locator("#live-table tbody tr", has_text="三年级音乐 · 草原之歌")
    row.get_by_role("button", name="隐身进入").click()
    evaluator.locator("#hidden-badge", has_text="隐身观看中").wait_for()
    frames_growing(evaluator, ANY_VIDEO)
    evaluator.wait_for_function("() => document.getElementById('eval-video').videoWidth > 0")
    views = evaluator.locator("#view-list [role=radio]")
    evaluator.wait_for_function(
        "() => document.querySelectorAll('#view-list [role=radio]').length >= 2"
    )
    labels = views.all_inner_texts()
    assert any("其其格老师" in x for x in labels) and any("接收教室" in x for x in labels), labels
    screenshot(evaluator, "evaluator-live")

    # Nobody sees the evaluator: still one tile on the teacher page, no participant
    # with the evaluator's identity on either page.
    time.sleep(1.0)
    assert teacher.locator("#tiles .tile").count() == 1
    for page in (teacher, room):
        roles = page.evaluate(
            "() => [...window.tongbu.session.participants.values()]"
            ".map(p => p.role + ':' + p.name)"
        )
        assert not any("evaluator" in r or "巴特尔" in r for r in roles), roles
    assert "巴特尔" not in teacher.locator("#tiles").inner_text()

    # Switch to the classroom's view, then back to the teacher.
    evaluator.get_by_role("radio", name="接收教室").click()
    evaluator.wait_for_function(
        "() => document.querySelector('#view-list [aria-checked=true]')"
        ".textContent.includes('接收教室')"
    )
    evaluator.get_by_role("radio", name="主讲：其其格老师").click()
    evaluator.wait_for_function("() => document.getElementById('eval-video').videoWidth > 0")
