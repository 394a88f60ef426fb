"""The observer that stores interaction events: chat rows, quizzes and answers, head counts.

Why an observer (like the lesson log, signaling/lessonlog.py) and not writes in
the handlers: the room must never wait on the database; the hub's event bus
hands events over in order, a little later. Events of rooms without a lesson
row (tests, meetings) are skipped; so is everything once the database turns
out to be unmigrated (a bare test app).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from server.db.models import Lesson, utcnow
from server.db.models_interaction import ChatMessage, Quiz, QuizAnswer
from server.lessons import _participation, offset_ms
from signaling.observers import RoomEvent

logger = logging.getLogger("tongbu.signaling.interaction")

HANDLED = {
    "chat.message",
    "chat.deleted",
    "quiz.opened",
    "quiz.answered",
    "quiz.closed",
    "attendance.pupils",
}


class InteractionStore:
    def __init__(self, db: Any) -> None:
        self.db = db
        self._broken = False

    async def __call__(self, event: RoomEvent) -> None:
        lesson_id = event.lesson_id
        if lesson_id is None or event.name not in HANDLED or self._broken:
            return
        try:
            async with self.db.session() as session:
                lesson = await session.get(Lesson, lesson_id)
                if lesson is None:
                    return
                await getattr(self, "_" + event.name.replace(".", "_"))(session, lesson, event)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            self._broken = True
            logger.warning("interaction store disabled: %s", exc.__class__.__name__)

    async def _chat_message(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        d = event.data
        session.add(
            ChatMessage(
                lesson_id=lesson.id,
                uid=d["message_id"],
                identity=event.identity or "",
                name=d.get("name") or "",
                role=event.role or "",
                classroom_id=d.get("classroom_id"),
                to=d.get("to", "all"),
                text=d["text"],
                offset_ms=offset_ms(lesson, event.at),
                created_at=event.at,
            )
        )

    async def _chat_deleted(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        row = await session.scalar(
            sa.select(ChatMessage).where(ChatMessage.uid == event.data["message_id"])
        )
        if row is not None:
            row.deleted_at = event.at
            row.deleted_by = event.identity

    async def _quiz_opened(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        q = event.data["quiz"]
        session.add(
            Quiz(
                lesson_id=lesson.id,
                uid=q["id"],
                question=q["question"],
                options=list(q["options"]),
                multiple=bool(q.get("multiple")),
                seconds=q.get("seconds"),
                opened_by=event.identity or "",
                opened_at=event.at,
                offset_ms=offset_ms(lesson, event.at),
                revealed=False,
            )
        )

    async def _quiz(self, session: Any, uid: str) -> Quiz | None:
        quiz: Quiz | None = await session.scalar(sa.select(Quiz).where(Quiz.uid == uid))
        return quiz

    async def _quiz_answered(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        d = event.data
        quiz = await self._quiz(session, d["quiz_id"])
        if quiz is None:
            return
        identity = event.identity or ""
        row = await session.scalar(
            sa.select(QuizAnswer).where(
                QuizAnswer.quiz_id == quiz.id, QuizAnswer.identity == identity
            )
        )
        if row is None:
            row = QuizAnswer(quiz_id=quiz.id, identity=identity)
            session.add(row)
        row.name = d.get("name") or ""
        row.classroom_id = d.get("classroom_id")
        row.hands = d.get("hands")
        row.choices = d.get("choices")
        row.answered_at = event.at
        row.offset_ms = offset_ms(lesson, event.at)

    async def _quiz_closed(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        quiz = await self._quiz(session, event.data["quiz_id"])
        if quiz is not None:
            quiz.closed_at = event.at
            quiz.close_reason = event.data.get("reason")
            quiz.revealed = bool(event.data.get("revealed"))

    async def _attendance_pupils(self, session: Any, lesson: Lesson, event: RoomEvent) -> None:
        classroom_id = event.data.get("classroom_id")
        if not isinstance(classroom_id, int):
            return
        row = await _participation(session, lesson.id, classroom_id)
        row.pupils_present = int(event.data["pupils_present"])
        row.updated_at = utcnow()


