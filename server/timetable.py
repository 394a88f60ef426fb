"""Timetable rules: valid times, weekly recurrence and double-booking.

A teacher, a main classroom and a receiving classroom each can be in one lesson
at a time. Lessons that are scheduled or live occupy their resources; ended and
cancelled ones do not. Intervals are half-open, so 08:00–08:45 and 08:45–09:30
do not clash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Lesson, LessonState, lesson_receiver
from server.errors import Conflict, ValidationFailed

# A lesson may be created a moment "in the past": the request took time to arrive.
PAST_TOLERANCE = timedelta(minutes=1)
MAX_LESSON = timedelta(hours=12)
MAX_OCCURRENCES = 60  # about two school terms of weekly lessons
TIMETABLE_LOCK = 0x746F6E67  # "tong"
ACTIVE_STATES = (LessonState.SCHEDULED, LessonState.LIVE)


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def validate_slot(slot: Slot, now: datetime) -> None:
    """End after start, not in the past, at most MAX_LESSON long (422 otherwise)."""
    if slot.starts_at.tzinfo is None or slot.ends_at.tzinfo is None:
        raise ValidationFailed("times must carry a timezone (use UTC, e.g. 2026-03-02T08:00:00Z)")
    if slot.ends_at <= slot.starts_at:
        raise ValidationFailed(
            "a lesson must end after it starts",
            {"starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat()},
        )
    if slot.starts_at < now - PAST_TOLERANCE:
        raise ValidationFailed(
            "a lesson cannot start in the past",
            {"starts_at": slot.starts_at.isoformat(), "now": now.isoformat()},
        )
    if slot.ends_at - slot.starts_at > MAX_LESSON:
        raise ValidationFailed("a lesson lasts at most 12 hours")


def weekly_slots(first: Slot, until: datetime) -> list[Slot]:
    """The first slot and one more every 7 days while the start is not after `until`."""
    if until < first.starts_at:
        raise ValidationFailed("repeat_weekly_until is before the first lesson")
    slots = []
    week = timedelta(weeks=1)
    current = first
    while current.starts_at <= until:
        slots.append(current)
        if len(slots) > MAX_OCCURRENCES:
            raise ValidationFailed(f"a weekly series has at most {MAX_OCCURRENCES} lessons")
        current = Slot(current.starts_at + week, current.ends_at + week)
    return slots


def _overlapping_any(slots: Sequence[Slot]) -> sa.ColumnElement[bool]:
    return sa.or_(
        *(sa.and_(Lesson.starts_at < s.ends_at, Lesson.ends_at > s.starts_at) for s in slots)
    )


async def find_clashes(
    session: AsyncSession,
    *,
    slots: Sequence[Slot],
    teacher_id: int,
    main_classroom_id: int,
    receiving_classroom_ids: Iterable[int],
    exclude_lesson_ids: Iterable[int] = (),
) -> list[dict[str, object]]:
    """Every (resource, other lesson) pair that a new lesson in `slots` would double-book."""
    receivers = list(receiving_classroom_ids)
    classroom_ids = [main_classroom_id, *receivers]
    uses_classroom = sa.or_(
        Lesson.main_classroom_id.in_(classroom_ids),
        Lesson.id.in_(
            sa.select(lesson_receiver.c.lesson_id).where(
                lesson_receiver.c.classroom_id.in_(classroom_ids)
            )
        ),
    )
    query = (
        sa.select(Lesson)
        .where(
            Lesson.state.in_(ACTIVE_STATES),
            _overlapping_any(slots),
            sa.or_(Lesson.teacher_id == teacher_id, uses_classroom),
        )
        .order_by(Lesson.starts_at, Lesson.id)
    )
    excluded = list(exclude_lesson_ids)
    if excluded:
        query = query.where(Lesson.id.not_in(excluded))
    clashes: list[dict[str, object]] = []
    for other in (await session.scalars(query)).all():
        other_slot = Slot(other.starts_at, other.ends_at)
        if not any(s.overlaps(other_slot) for s in slots):
            continue
        busy = {other.main_classroom_id, *other.receiving_classroom_ids}

        def clash(resource: str, resource_id: int, other: Lesson = other) -> dict[str, object]:
            return {
                "resource": resource,
                "resource_id": resource_id,
                "lesson_id": other.id,
                "starts_at": other.starts_at.isoformat(),
                "ends_at": other.ends_at.isoformat(),
            }

        if other.teacher_id == teacher_id:
            clashes.append(clash("teacher", teacher_id))
        if main_classroom_id in busy:
            clashes.append(clash("main_classroom", main_classroom_id))
        clashes.extend(clash("receiving_classroom", cid) for cid in receivers if cid in busy)
    return clashes


async def _serialise_bookings(session: AsyncSession) -> None:
    """Hold the booking lock until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a no-op write takes the
    database's write lock before the clash query runs, so a concurrent booking waits
    (busy timeout) and then reads the committed state. The caller must not have written
    in this transaction before (its earlier reads ran outside any write transaction).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(TIMETABLE_LOCK)))
    elif dialect == "sqlite":
        await session.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))


async def ensure_free(
    session: AsyncSession,
    *,
    slots: Sequence[Slot],
    teacher_id: int,
    main_classroom_id: int,
    receiving_classroom_ids: Iterable[int],
    exclude_lesson_ids: Iterable[int] = (),
) -> None:
    """Raise 409 naming every clash, or return when all slots are free (all-or-nothing).

    Bookings are serialised first, so two concurrent requests cannot both see a slot free.
    """
    await _serialise_bookings(session)
    clashes = await find_clashes(
        session,
        slots=slots,
        teacher_id=teacher_id,
        main_classroom_id=main_classroom_id,
        receiving_classroom_ids=receiving_classroom_ids,
        exclude_lesson_ids=exclude_lesson_ids,
    )
    if clashes:
        first = clashes[0]
        raise Conflict(
            f"{first['resource']} {first['resource_id']} is already booked by lesson "
            f"{first['lesson_id']} ({first['starts_at']} – {first['ends_at']})",
            {"clashes": clashes},
        )
