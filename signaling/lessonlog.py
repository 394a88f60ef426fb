"""The observer that writes room events into the lesson's event log and attendance.

Why an observer and not calls inside the room: the room must never wait on the
database (a slow disk or a lost PostgreSQL connection would stall a live
lesson); events reach the log in order through the hub's `EventBus`, a little
later. Events of rooms without a lesson row (tests, ad-hoc rooms) are skipped.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from server.db.models import Lesson
from server.lessons import mark_joined, mark_left, record_event
from signaling.observers import RoomEvent

logger = logging.getLogger("tongbu.signaling.lessonlog")

# Reasons that end a socket but not the classroom's presence in the lesson.
_NOT_A_LEAVE = {"duplicate_identity"}


class LessonLog:
    """Appends `RoomEvent`s with `log=True` to `lesson_events`; keeps attendance current."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._broken = False

    async def __call__(self, event: RoomEvent) -> None:
        lesson_id = event.lesson_id
        if lesson_id is None or not event.log or self._broken:
            return
        try:
            async with self.db.session() as session:
                lesson = await session.get(Lesson, lesson_id)
                if lesson is None:
                    return
                await record_event(
                    session,
                    lesson,
                    event.name,
                    event.identity or "server",
                    {"participant_id": event.participant_id, "role": event.role, **event.data},
                    at=event.at,
                )
                await self._attendance(session, lesson_id, event)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            # An unmigrated database (a bare test app): say so once, then stay quiet.
            self._broken = True
            logger.warning("lesson log disabled: %s", exc.__class__.__name__)

    @staticmethod
    async def _attendance(session: Any, lesson_id: int, event: RoomEvent) -> None:
        classroom_id = event.data.get("classroom_id")
        if not isinstance(classroom_id, int) or event.data.get("hidden"):
            return
        if event.name == "participant.joined":
            await mark_joined(session, lesson_id, classroom_id)
        elif event.name == "participant.left" and event.data.get("reason") not in _NOT_A_LEAVE:
            await mark_left(session, lesson_id, classroom_id)
