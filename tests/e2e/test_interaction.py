"""Interaction journeys in Chromium: the teacher page and a classroom page in two contexts.

Floor: raise a hand → granted with a time limit → the speaker list counts down → revoked;
free mode and mute-all reach the classroom. Chat both ways, to the teacher only, and a
deletion. Quiz pushed → answered with hands per option → live results → revealed; the
classroom's head count reaches the attendance list.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.media


def _teacher(new_context: Any, lesson_id: int) -> Any:
    page = new_context(viewport=(1366, 900)).new_page()
    login(page, "teacher", f"/web/teacher.html?lesson={lesson_id}")
    page.locator("#device-message[data-key='devices.ok']").wait_for()
    page.get_by_role("button", name="开始上课").click()
    page.locator("#ia-floor").wait_for()
    return page


def _classroom(new_context: Any, token: str) -> Any:
    page = new_context(viewport=(1366, 768), device_token=token).new_page()
    page.goto("/classroom?poll=700")
    page.wait_for_function(
        "() => window.tongbu.phase === 'live' && window.tongbu.session"
        " && window.tongbu.session.participantId"
    )
    page.locator("#ia-toggle").wait_for()
    return page


def test_raise_hand_timed_grant_free_mode_and_mute_all(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 发言模式")
    teacher = _teacher(new_context, lesson.id)
    room = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])
    name = "接收教室 一年级"

    room.get_by_role("button", name="举手").click()
    teacher.locator("#hand-queue").get_by_text(name).wait_for()
    teacher.get_by_label("发言时长").select_option("30")
    teacher.locator("#hand-queue").get_by_role("button", name="连麦").click()
    room.locator("#floor-banner").wait_for(state="visible")
    speaker = teacher.locator("#ia-speakers li", has_text=name)
    speaker.wait_for()
    assert "剩" in speaker.inner_text()
    room.locator("#ia-give-back").wait_for(state="visible")
    screenshot(teacher, "teacher-interaction-floor")
    speaker.get_by_role("button", name="结束发言").click()
    room.locator("#floor-banner").wait_for(state="hidden")
    teacher.locator("#ia-speakers").get_by_text("暂无教室发言").wait_for()

    teacher.get_by_label("发言模式").select_option("free")
    teacher.get_by_label("同时发言人数").select_option("2")
    teacher.get_by_role("button", name="应用").click()
    room.wait_for_function(
        "() => window.tongbu.session.floor.mode === 'free'"
        " && window.tongbu.session.floor.max_speakers === 2"
    )
    # Free mode: the classroom's hand button takes the floor itself.
    room.get_by_role("button", name="举手").click()
    room.locator("#floor-banner").wait_for(state="visible")
    room.get_by_role("button", name="结束发言").click()
    room.locator("#floor-banner").wait_for(state="hidden")

    teacher.get_by_role("button", name="全体静音").click()
    teacher.locator("#ia-mute-note").wait_for(state="visible")
    room.wait_for_function("() => window.tongbu.session.floor.mute_all === true")
    tile = teacher.locator("#tiles .tile", has_text=name)
    tile.get_by_role("button", name=f"取消静音 · {name}").wait_for()
    teacher.get_by_role("button", name="解除全体静音").click()
    tile.get_by_role("button", name=f"静音 · {name}").wait_for()


def test_chat_both_ways_to_the_teacher_only_and_deleted(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 讨论区")
    teacher = _teacher(new_context, lesson.id)
    room = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])
    other = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[1]])

    room.get_by_role("button", name="互动").click()
    room.get_by_label("输入消息").fill("老师好，我们听得很清楚")
    room.get_by_role("button", name="发送").click()
    teacher.locator("#ia-chat-list").get_by_text("老师好，我们听得很清楚").wait_for()

    teacher.get_by_label("输入消息").fill("好的，请大家看黑板")
    teacher.get_by_role("button", name="发送").click()
    room.locator("#ia-chat-list").get_by_text("好的，请大家看黑板").wait_for()

    room.get_by_label("发给所有人").select_option("moderators")
    room.get_by_label("输入消息").fill("我们这边声音小")
    room.get_by_role("button", name="发送").click()
    teacher.locator("#ia-chat-list").get_by_text("我们这边声音小").wait_for()
    other.get_by_role("button", name="互动").click()
    other.locator("#ia-chat-list").get_by_text("好的，请大家看黑板").wait_for()
    assert "我们这边声音小" not in other.locator("#ia-chat-list").inner_text()
    screenshot(teacher, "teacher-interaction-chat")

    teacher.locator("#ia-chat-list li", has_text="老师好").get_by_role("button").click()
    other.locator("#ia-chat-list").get_by_text("老师好，我们听得很清楚").wait_for(state="detached")
    teacher.get_by_role("button", name="关闭讨论区").click()
    room.locator("#ia-chat-off").wait_for(state="visible")
    assert room.locator("#ia-chat-send").is_disabled()
    screenshot(room, "classroom-interaction-chat")


def test_quiz_pushed_answered_with_hands_and_revealed_and_pupils_reported(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 随堂测验")
    teacher = _teacher(new_context, lesson.id)
    room = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])

    # Attendance: the classroom reports its head count; the teacher's list shows it.
    room.get_by_role("button", name="互动").click()
    room.get_by_label("到课学生人数").fill("23")
    room.get_by_role("button", name="上报人数").click()
    room.locator("#ia-pupils-done").get_by_text("已上报 23 人").wait_for()
    teacher.locator("#ia-attendance-list li", has_text="接收教室 一年级").get_by_text(
        "23 人"
    ).wait_for()

    teacher.get_by_label("题目", exact=True).fill("1/2 和 2/4 相等吗?")
    teacher.get_by_label("选项 A").fill("相等")
    teacher.get_by_label("选项 B").fill("不相等")
    teacher.get_by_role("button", name="推送题目").click()
    room.locator("#ia-quiz-question").get_by_text("1/2 和 2/4 相等吗?").wait_for()
    room.get_by_label("选 A. 相等 的人数").fill("15")
    room.get_by_label("选 B. 不相等 的人数").fill("8")
    room.get_by_role("button", name="提交答案").click()
    room.locator("#ia-quiz-state").get_by_text("已提交").wait_for()
    first = teacher.locator("#ia-quiz-results .ia-totals li[data-option='0']")
    teacher.wait_for_function(
        "() => document.querySelector(\"#ia-quiz-results li[data-option='0']\")"
        "?.dataset.total === '15'"
    )
    assert first.get_attribute("data-total") == "15"
    assert "已作答 1 / 1" in teacher.locator("#ia-quiz-results").inner_text()
    screenshot(teacher, "teacher-interaction-quiz")
    teacher.get_by_role("button", name="结束并公布结果").click()
    room.locator("#ia-quiz-results li[data-option='1'][data-total='8']").wait_for()
    screenshot(room, "classroom-interaction-quiz")
    r = live_server.api("GET", f"/api/lessons/{lesson.id}/quizzes", login="teacher")
    assert r.status_code == 200 and r.json()[0]["totals"] == [15, 8]


# Audio packets received per <audio> of the other speakers (null before joining).
SPEAKER_AUDIO = """async () => {
  const s = window.tongbu && window.tongbu.session;
  const els = [...document.querySelectorAll('#speaker-audio audio')];
  if (!s || !s.sub) return null;
  const stats = await s.sub.getStats();
  const byTrack = new Map();
  stats.forEach((x) => {
    if (x.type === 'inbound-rtp' && x.kind === 'audio') {
      byTrack.set(x.trackIdentifier, x.packetsReceived || 0);
    }
  });
  return els.map((a) => {
    const tr = a.srcObject && a.srcObject.getAudioTracks()[0];
    return tr ? (byTrack.get(tr.id) || 0) : 0;
  });
}"""


def test_two_speakers_are_both_heard_in_a_listening_classroom(
    new_context: Any, live_server: LiveServer, make_lesson: Any, device_tokens: dict[int, str]
) -> None:
    seed = live_server.seed
    lesson = make_lesson(title="三年级数学 · 两个教室同时发言")
    teacher = _teacher(new_context, lesson.id)
    a = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[0]])
    b = _classroom(new_context, device_tokens[seed.receiving_classroom_ids[1]])
    token_c = live_server.pair_device(seed.receiving_classroom_ids[2])
    listener = _classroom(new_context, token_c)
    teacher.get_by_label("同时发言人数").select_option("2")
    teacher.get_by_role("button", name="应用").click()
    teacher.wait_for_function("() => window.tongbu.session.floor.max_speakers === 2")
    for page in (a, b):
        page.wait_for_function(
            "() => window.tongbu.session.published.some(e => e.producerId)"
        )
        pid = page.evaluate("window.tongbu.session.participantId")
        teacher.evaluate(f"window.tongbu.session.grantFloor({pid!r})")
    listener.wait_for_function(
        "() => document.querySelectorAll('#speaker-audio audio').length === 2"
    )
    listener.wait_for_function(
        f"async () => {{ const n = await ({SPEAKER_AUDIO})();"
        " return n && n.length === 2 && n.every((x) => x > 20); }"
    )
    # One gives the floor back: one voice is left.
    a.get_by_role("button", name="结束发言").click()
    listener.wait_for_function(
        "() => document.querySelectorAll('#speaker-audio audio').length === 1"
    )
