"""The lesson state machine and its event log.

scheduled → live → ended, and scheduled → cancelled. Every transition records
its actual time and appends a `LessonEvent` on the lesson timeline, whose zero
is `actual_start` (DESIGN.md, "Time and synchronisation"). Other packages
(signaling, recorder) append events through `record_event`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Lesson, LessonEvent, LessonState, Participation, utcnow
from server.errors import InvalidState

# A teacher may open the room this long before the scheduled start.
EARLY_START = timedelta(minutes=15)

_ALLOWED: dict[LessonState, set[LessonState]] = {
    LessonState.SCHEDULED: {LessonState.LIVE, LessonState.CANCELLED},
    LessonState.LIVE: {LessonState.ENDED},
    LessonState.ENDED: set(),
    LessonState.CANCELLED: set(),
}


def offset_ms(lesson: Lesson, at: datetime) -> int:
    """Milliseconds on the lesson timeline; before the start, relative to the schedule."""
    zero = lesson.actual_start or lesson.starts_at
    return int((at - zero).total_seconds() * 1000)


async def record_event(
    session: AsyncSession,
    lesson: Lesson,
    type: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> LessonEvent:
    """Append one event to the lesson's log (the caller's transaction commits it)."""
    at = at or utcnow()
    event = LessonEvent(
        lesson_id=lesson.id,
        type=type,
        actor=actor,
        offset_ms=offset_ms(lesson, at),
        payload=payload or {},
        created_at=at,
    )
    session.add(event)
    await session.flush()
    return event


def _transition(lesson: Lesson, target: LessonState) -> None:
    if target not in _ALLOWED[lesson.state]:
        raise InvalidState(
            f"a {lesson.state.value} lesson cannot become {target.value}",
            {"lesson_id": lesson.id, "state": lesson.state.value, "requested": target.value},
        )
    lesson.state = target


async def start_lesson(session: AsyncSession, lesson: Lesson, actor: str) -> Lesson:
    now = utcnow()
    if lesson.state is LessonState.SCHEDULED and now < lesson.starts_at - EARLY_START:
        raise InvalidState(
            "too early to start this lesson",
            {
                "lesson_id": lesson.id,
                "starts_at": lesson.starts_at.isoformat(),
                "earliest": (lesson.starts_at - EARLY_START).isoformat(),
            },
        )
    _transition(lesson, LessonState.LIVE)
    lesson.actual_start = now
    await record_event(session, lesson, "lesson.started", actor, {}, at=now)
    return lesson


async def end_lesson(session: AsyncSession, lesson: Lesson, actor: str) -> Lesson:
    now = utcnow()
    _transition(lesson, LessonState.ENDED)
    lesson.actual_end = now
    await record_event(session, lesson, "lesson.ended", actor, {}, at=now)
    return lesson


async def cancel_lesson(session: AsyncSession, lesson: Lesson, actor: str) -> Lesson:
    _transition(lesson, LessonState.CANCELLED)
    await record_event(session, lesson, "lesson.cancelled", actor, {})
    return lesson


async def _participation(session: AsyncSession, lesson_id: int, classroom_id: int) -> Participation:
    row = await session.scalar(
        sa.select(Participation).where(
            Participation.lesson_id == lesson_id, Participation.classroom_id == classroom_id
        )
    )
    if row is None:
        row = Participation(lesson_id=lesson_id, classroom_id=classroom_id)
        session.add(row)
    return row


async def mark_joined(session: AsyncSession, lesson_id: int, classroom_id: int) -> Participation:
    """Attendance: the classroom is in the lesson (first join kept, a rejoin clears left_at)."""
    row = await _participation(session, lesson_id, classroom_id)
    if row.joined_at is None:
        row.joined_at = utcnow()
    row.left_at = None
    row.updated_at = utcnow()
    await session.flush()
    return row


async def mark_left(session: AsyncSession, lesson_id: int, classroom_id: int) -> Participation:
    """Attendance: the classroom left (signaling calls this when its socket closes)."""
    row = await _participation(session, lesson_id, classroom_id)
    row.left_at = utcnow()
    row.updated_at = utcnow()
    await session.flush()
    return row
