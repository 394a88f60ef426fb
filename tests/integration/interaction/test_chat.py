"""Chat over real WebSocket clients: to all and to the teacher, limits, moderation,
history for late joiners, the hidden evaluator, and rows in PostgreSQL."""

from __future__ import annotations

import pytest

from clients.python import SignalingError
from server.db.models_interaction import ChatMessage
from signaling.protocol import ErrorCode
from tests.integration.interaction.conftest import Lessonroom


async def test_chat_to_all_and_to_the_teacher_reach_the_right_people(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    hello = await first.chat_send("老师好，我们听得很清楚")
    private = await second.chat_send("我们这边声音有点小", to="moderators")
    await teacher.wait_until(lambda: len(teacher.interaction.chat) == 2, within=5)
    await second.wait_until(lambda: hello.id in {e.id for e in second.interaction.chat}, within=5)
    reply = await teacher.chat_send("好的，大家注意听")
    await first.wait_until(lambda: reply.id in {e.id for e in first.interaction.chat}, within=5)
    assert private.id not in {e.id for e in first.interaction.chat}
    assert [e.text for e in teacher.interaction.chat] == [
        "老师好，我们听得很清楚", "我们这边声音有点小", "好的，大家注意听"
    ]
    rows = sorted(await lesson.rows(ChatMessage), key=lambda r: r.id)
    assert [(r.uid, r.to, r.identity) for r in rows] == [
        (hello.id, "all", f"classroom-{lesson.classroom_ids[0]}"),
        (private.id, "moderators", f"classroom-{lesson.classroom_ids[1]}"),
        (reply.id, "all", f"user-{lesson.teacher_user_id}"),
    ]
    assert rows[0].classroom_id == lesson.classroom_ids[0] and rows[0].offset_ms >= 0
    logged = [e.payload["message_id"] for e in await lesson.events("chat.message")]
    assert logged == [hello.id, private.id, reply.id]


async def test_an_oversize_message_is_refused_and_nothing_is_lost(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    with pytest.raises(SignalingError) as err:
        await room.chat_send("长" * 501)
    assert err.value.code is ErrorCode.TOO_LONG
    ok = await room.chat_send("短" * 500)
    await teacher.wait_until(lambda: [e.id for e in teacher.interaction.chat] == [ok.id], within=5)
    assert len(await lesson.rows(ChatMessage)) == 1


async def test_a_chat_flood_is_rate_limited_and_the_lesson_carries_on(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    flooder = await lesson.classroom(0)
    other = await lesson.classroom(1)
    codes = []
    for i in range(20):
        try:
            await flooder.chat_send(f"刷屏 {i}")
            codes.append("ok")
        except SignalingError as exc:
            codes.append(exc.code.value)
    burst = lesson.server.settings.interaction.chat_burst
    assert codes.count("ok") >= burst and codes.count("rate_limited") >= 20 - burst - 3
    assert not flooder.closed.is_set()
    # Everyone else is unaffected: the other classroom chats, the floor works.
    said = await other.chat_send("我们也在")
    await teacher.wait_until(lambda: said.id in {e.id for e in teacher.interaction.chat}, within=5)
    await teacher.grant_floor(other.participant_id or "")
    await other.wait_until(lambda: other.floor.holder == other.participant_id, within=5)
    assert len(await lesson.rows(ChatMessage)) == codes.count("ok") + 1
    # Counted for the operators, not written to the lesson's log.
    metrics = (await lesson.get("/metrics", None)).text
    sample = 'tongbu_interaction_events_total{event="chat.rate_limited",reason=""}'
    assert f"{sample} {codes.count('rate_limited')}.0" in metrics
    assert not await lesson.events("chat.rate_limited")


async def test_moderation_disables_chat_and_deletes_everyones_copy(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    second = await lesson.classroom(1)
    rude = await first.chat_send("不相关的话")
    await second.wait_until(lambda: len(second.interaction.chat) == 1, within=5)
    with pytest.raises(SignalingError) as err:
        await first.chat_delete(rude.id)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    await teacher.chat_delete(rude.id)
    await second.wait_until(lambda: second.interaction.chat == [], within=5)
    await first.wait_until(lambda: first.interaction.chat == [], within=5)
    with pytest.raises(SignalingError) as err:
        await teacher.chat_delete(rude.id)
    assert err.value.code is ErrorCode.NOT_FOUND
    await teacher.chat_enable(False)
    await first.wait_until(lambda: not first.interaction.chat_enabled, within=5)
    with pytest.raises(SignalingError) as err:
        await first.chat_send("还能说话吗")
    assert err.value.code is ErrorCode.CHAT_DISABLED
    await teacher.chat_send("请安静听讲")  # the teacher still may
    with pytest.raises(SignalingError) as err:
        await first.chat_enable(True)
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    await teacher.chat_enable(True)
    await first.wait_until(lambda: first.interaction.chat_enabled, within=5)
    await first.chat_send("谢谢老师")
    rows = {r.uid: r for r in await lesson.rows(ChatMessage)}
    assert rows[rude.id].deleted_at is not None
    assert rows[rude.id].deleted_by == f"user-{lesson.teacher_user_id}"
    names = [e.type for e in await lesson.events("chat.")]
    assert names.count("chat.enabled") == 2 and "chat.deleted" in names


async def test_a_late_joiner_gets_the_history_it_may_see(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    first = await lesson.classroom(0)
    public = await first.chat_send("第一条")
    await first.chat_send("给老师的悄悄话", to="moderators")
    await teacher.chat_send("第二条")
    late = await lesson.classroom(1)
    await late.wait_until(lambda: len(late.interaction.chat) == 2, within=5)
    assert [e.text for e in late.interaction.chat] == ["第一条", "第二条"]
    assert late.interaction.chat[0].id == public.id
    # A late moderator sees the message to the teacher too.
    late_teacher = await lesson.teacher()
    await late_teacher.wait_until(lambda: len(late_teacher.interaction.chat) == 3, within=5)


async def test_a_hidden_evaluator_reads_but_posts_only_when_granted(lesson: Lessonroom) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    reader = await lesson.evaluator()
    said = await room.chat_send("大家好")
    await reader.wait_until(lambda: said.id in {e.id for e in reader.interaction.chat}, within=5)
    with pytest.raises(SignalingError) as err:
        await reader.chat_send("评课意见")
    assert err.value.code is ErrorCode.PERMISSION_DENIED
    await reader.close()
    granted = await lesson.evaluator(chat=True)
    note = await granted.chat_send("声音清楚", to="moderators")
    await teacher.wait_until(lambda: note.id in {e.id for e in teacher.interaction.chat}, within=5)
    assert note.id not in {e.id for e in room.interaction.chat}


async def test_the_history_survives_the_room_closing_when_everyone_left(
    lesson: Lessonroom,
) -> None:
    teacher = await lesson.teacher()
    room = await lesson.classroom(0)
    first = await room.chat_send("断线前的消息")
    await room.chat_send("悄悄话", to="moderators")
    gone = await teacher.chat_send("要删的")
    await teacher.chat_delete(gone.id)
    await teacher.leave()
    await room.leave()
    await lesson.server.hub.events.drain()
    assert lesson.room not in lesson.server.hub.rooms
    back = await lesson.classroom(0)
    await back.wait_until(lambda: len(back.interaction.chat) == 2, within=5)
    assert [e.text for e in back.interaction.chat] == ["断线前的消息", "悄悄话"]
    assert back.interaction.chat[0].id == first.id
    other = await lesson.classroom(1)
    await other.wait_until(lambda: len(other.interaction.chat) == 1, within=5)
    assert other.interaction.chat[0].id == first.id
