"""Quizzes over real WebSocket clients: push, answer with hands or a choice, live results,
second answers, answers after the close, time limits, and the stored results over REST."""

from __future__ import annotations

import pytest

from clients.python import SignalingError
from server.db.models_interaction import Quiz, QuizAnswer
from signaling.protocol import ErrorCode
from tests.integration.interaction.conftest import Lessonroom


async def test_a_quiz_reaches_every_classroom_and_results_reach_the_teacher(
    lesson: Lessonroom,
) -> None:
    teacher = await lesson.teacher()
    rooms = [await lesson.classroom(i) for i in range(3)]
    quiz = await teacher.quiz_open("1/2 和 2/4 相等吗?", ["相等", "不相等", "不知道"])
    for r in rooms:
        await r.wait_until(lambda r=r: r.interaction.quiz is not None, within=5)
        assert r.interaction.quiz and r.interaction.quiz.id == quiz.id
    await rooms[0].quiz_answer(quiz.id, hands=[12, 3, 1])
    await rooms[1].quiz_answer(quiz.id, hands=[6, 2, 0])
    await rooms[2].quiz_answer(quiz.id, choices=[0])

    def live() -> bool:
        res = teacher.interaction.results.get(quiz.id)
        return res is not None and res.answered == 3

    await teacher.wait_until(live, within=5)
    results = teacher.interaction.results[quiz.id]
    assert results.totals == [19, 5, 1] and results.expected == 3 and not results.closed
    assert {t.identity for t in results.classrooms} == {
        f"classroom-{cid}" for cid in lesson.classroom_ids[:3]
    }
    # Classrooms do not see the others' answers while the quiz is open.
    assert quiz.id not in rooms[0].interaction.results
    await teacher.quiz_close(quiz.id, reveal=True)
    await rooms[0].wait_until(lambda: quiz.id in rooms[0].interaction.results, within=5)
    final = rooms[0].interaction.results[quiz.id]
    assert final.closed and final.totals == [19, 5, 1]
    names = [e.type for e in await lesson.events("quiz.")]
    assert names == ["quiz.opened"] + ["quiz.answered"] * 3 + ["quiz.closed"]
    (row,) = await lesson.rows(Quiz)
    assert row.uid == quiz.id and row.revealed and row.close_reason == "closed"
    assert len(await lesson.rows(QuizAnswer)) == 3


async def test_a_second_answer_is_refused_unless_it_replaces(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    quiz = await teacher.quiz_open("哪些是偶数?", ["2", "3", "4", "5"], multiple=True)
    await room.quiz_answer(quiz.id, choices=[0, 2])
    with pytest.raises(SignalingError) as err:
        await room.quiz_answer(quiz.id, choices=[0])
    assert err.value.code is ErrorCode.ALREADY_ANSWERED
    await room.quiz_answer(quiz.id, choices=[0, 2, 3], replace=True)
    await teacher.wait_until(
        lambda: teacher.interaction.results[quiz.id].totals == [1, 0, 1, 1], within=5
    )
    assert teacher.interaction.results[quiz.id].answered == 1
    (answer,) = await lesson.rows(QuizAnswer)
    assert answer.choices == [0, 2, 3]


async def test_answers_after_the_close_and_malformed_answers_are_refused(
    lesson: Lessonroom,
) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    other = await lesson.classroom(1)
    quiz = await teacher.quiz_open("选一个", ["甲", "乙"])
    for kw, code in [
        ({"hands": [1, 2, 3]}, ErrorCode.INVALID_MESSAGE),  # three counts for two options
        ({"choices": [0, 1]}, ErrorCode.INVALID_MESSAGE),  # two choices, single-choice question
        ({"choices": [5]}, ErrorCode.INVALID_MESSAGE),
    ]:
        with pytest.raises(SignalingError) as err:
            await room.quiz_answer(quiz.id, **kw)  # type: ignore[arg-type]
        assert err.value.code is code
    with pytest.raises(SignalingError) as err:
        await teacher.quiz_answer(quiz.id, choices=[0])
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    with pytest.raises(SignalingError) as err:
        await room.quiz_open("我也出题", ["a", "b"])
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    with pytest.raises(SignalingError) as err:
        await teacher.quiz_open("第二题", ["a", "b"])
    assert err.value.code is ErrorCode.INVALID_STATE
    await room.quiz_answer(quiz.id, hands=[3, 4])
    await teacher.quiz_close(quiz.id)
    with pytest.raises(SignalingError) as err:
        await other.quiz_answer(quiz.id, hands=[1, 1])
    assert err.value.code is ErrorCode.QUIZ_CLOSED
    with pytest.raises(SignalingError) as err:
        await other.quiz_answer("QZ_nonexistent", hands=[1, 1])
    assert err.value.code is ErrorCode.NOT_FOUND
    # Not revealed: the classrooms learn it closed, not the results.
    await room.wait_until(lambda: bool(room.interaction.closed_quizzes), within=5)
    assert quiz.id not in room.interaction.results
    (answer,) = await lesson.rows(QuizAnswer)
    assert answer.hands == [3, 4]


async def test_a_timed_quiz_closes_itself(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    quiz = await teacher.quiz_open("快问快答", ["对", "错"], seconds=5)
    await room.wait_until(lambda: room.interaction.quiz is not None, within=5)
    assert room.interaction.quiz and room.interaction.quiz.closes_at is not None
    await room.wait_until(lambda: bool(room.interaction.closed_quizzes), within=12)
    assert room.interaction.closed_quizzes[0].reason == "expired"
    with pytest.raises(SignalingError) as err:
        await room.quiz_answer(quiz.id, choices=[0])
    assert err.value.code is ErrorCode.QUIZ_CLOSED
    (row,) = await lesson.rows(Quiz)
    assert row.close_reason == "expired" and row.closed_at is not None


async def test_a_late_classroom_gets_the_open_quiz_and_cannot_answer_twice_by_rejoining(
    lesson: Lessonroom,
) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    quiz = await teacher.quiz_open("今天学的是?", ["分数", "小数"])
    await first.quiz_answer(quiz.id, choices=[0])
    await first.close()
    again = await lesson.classroom(0)  # the same classroom, a new session
    await again.wait_until(lambda: again.interaction.quiz is not None, within=5)
    assert again.interaction.quiz_answered
    with pytest.raises(SignalingError) as err:
        await again.quiz_answer(quiz.id, choices=[1])
    assert err.value.code is ErrorCode.ALREADY_ANSWERED


async def test_quiz_results_over_rest_follow_scope(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    rooms = [await lesson.classroom(0), await lesson.classroom(1)]
    quiz = await teacher.quiz_open("2+2=?", ["3", "4"])
    await rooms[0].quiz_answer(quiz.id, hands=[1, 9])
    await rooms[1].quiz_answer(quiz.id, hands=[0, 7])
    await teacher.quiz_close(quiz.id)
    path = f"/api/lessons/{lesson.lesson_id}/quizzes"
    r = await lesson.get(path, await lesson.bearer("teacher"))
    assert r.status_code == 200, r.text
    (body,) = r.json()
    assert body["id"] == quiz.id and body["totals"] == [1, 16] and body["answered"] == 2
    assert len(body["answers"]) == 2 and body["close_reason"] == "closed"
    # A classroom device sees its own answer, and no totals before they are revealed.
    device = await lesson.device(lesson.classroom_ids[0])
    (mine,) = (await lesson.get(path, device)).json()
    assert mine["totals"] is None and [a["hands"] for a in mine["answers"]] == [[1, 9]]
    # Out of scope: another county's admin.
    r = await lesson.get(path, await lesson.bearer("other_county_admin"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    r = await lesson.get("/api/lessons/999999/quizzes", await lesson.bearer("admin"))
    assert r.status_code == 404
