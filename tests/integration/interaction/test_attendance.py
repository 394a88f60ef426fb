"""Attendance (签到): head counts over the WebSocket, stored on `participation`, the per-lesson
report over REST (scope-checked), and the chat transcript a device may read."""

from __future__ import annotations

import pytest

from clients.python import SignalingError
from server.db.models import Participation
from signaling.messages.attendance import PupilsReport
from signaling.protocol import ErrorCode
from signaling.wire import Message
from tests.integration.interaction.conftest import Lessonroom


async def test_pupils_reports_reach_the_teacher_the_log_and_the_report(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    await first.report_pupils(18)
    await second.report_pupils(7)
    await second.report_pupils(8)  # a correction: the last report wins
    await teacher.wait_until(
        lambda: {r.pupils_present for r in teacher.interaction.pupils.values()} == {18, 8},
        within=5,
    )
    logged = [e.payload for e in await lesson.events("attendance.pupils")]
    assert [p["pupils_present"] for p in logged] == [18, 7, 8]
    rows = {r.classroom_id: r for r in await lesson.rows(Participation)}
    assert rows[lesson.classroom_ids[0]].pupils_present == 18
    assert rows[lesson.classroom_ids[1]].pupils_present == 8
    await second.leave()
    # A teacher arriving later sees the counts reported so far.
    late = await lesson.teacher()
    await late.wait_until(lambda: len(late.interaction.pupils) == 2, within=5)

    r = await lesson.get(
        f"/api/lessons/{lesson.lesson_id}/attendance/report", await lesson.bearer("teacher")
    )
    assert r.status_code == 200, r.text
    report = r.json()
    by_id = {c["classroom_id"]: c for c in report["classrooms"]}
    assert report["classrooms"][0]["main"] and report["classrooms"][0]["attended"]
    assert by_id[lesson.classroom_ids[0]]["pupils_present"] == 18
    assert by_id[lesson.classroom_ids[1]]["left_at"] is not None
    assert report["pupils_present"] == 26
    assert report["expected"] == 1 + len(lesson.classroom_ids)
    absent = [c for c in report["classrooms"] if not c["attended"]]
    assert len(absent) == len(lesson.classroom_ids) - 2


async def test_only_a_classroom_reports_pupils_and_counts_are_bounded(lesson: Lessonroom) -> None:
    await lesson.teacher()
    evaluator = await lesson.evaluator()
    room = await lesson.classroom(0)
    with pytest.raises(SignalingError) as err:
        await evaluator.report_pupils(3)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    for bad in (-1, 10_001):
        # Past the client's own validation, as a broken or hostile client would send it.
        with pytest.raises(SignalingError) as err:
            await room.request(PupilsReport.model_construct(pupils_present=bad), Message)
        assert err.value.code is ErrorCode.INVALID_MESSAGE
    assert await lesson.events("attendance.pupils") == []


async def test_reports_are_scope_checked(lesson: Lessonroom) -> None:
    base = f"/api/lessons/{lesson.lesson_id}"
    outsider = await lesson.bearer("other_county_admin")
    for path in ("/attendance/report", "/chat", "/quizzes"):
        r = await lesson.get(base + path, outsider)
        assert r.status_code == 403, path
    r = await lesson.get(base + "/attendance/report", "not-a-token")
    assert r.status_code == 401


async def test_a_device_reads_the_public_chat_and_its_own_notes(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    await first.chat_send("公开的话")
    await first.chat_send("给老师的话", to="moderators")
    secret = await second.chat_send("另一间教室给老师的话", to="moderators")
    gone = await second.chat_send("要删的话")
    await teacher.chat_delete(gone.id)
    path = f"/api/lessons/{lesson.lesson_id}/chat"
    everything = (await lesson.get(path, await lesson.bearer("teacher"))).json()
    assert [m["text"] for m in everything] == [
        "公开的话", "给老师的话", "另一间教室给老师的话", ""
    ]
    assert everything[-1]["deleted"]
    device = await lesson.device(lesson.classroom_ids[0])
    mine = (await lesson.get(path, device)).json()
    assert secret.id not in {m["id"] for m in mine}
    assert [m["text"] for m in mine] == ["公开的话", "给老师的话", ""]
