"""What the lessons API calls after creating, moving or cancelling lessons.

The two-day rule: a lesson created or moved to start less than
`notices.min_notice_hours` (48 h) ahead is *accepted* but flagged
`short_notice`; the admins over its main classroom's school get a
`short_notice` notification and see it in `/api/notifications/short-notice`.
Everyone the lesson concerns hears about creations at short notice (the
week's timetable may already have gone out), every change of time or places,
and every cancellation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Lesson
from server.db.models_reach import NoticeKind
from server.notices.notify import is_short_notice, notify_lesson, notify_short_notice
from server.policy import classroom_path
from server.settings import Settings


async def on_created(session: AsyncSession, settings: Settings, lessons: list[Lesson]) -> None:
    if not lessons:
        return
    main_path = await classroom_path(session, lessons[0].main_classroom_id)
    for lesson in lessons:
        if is_short_notice(lesson.starts_at, settings):
            lesson.short_notice = True
            await notify_lesson(session, settings, lesson, NoticeKind.LESSON_CREATED)
            await notify_short_notice(session, settings, lesson, main_path)
    await session.flush()


async def on_changed(
    session: AsyncSession, settings: Settings, lesson: Lesson, *,
    old_starts_at: datetime, old_ends_at: datetime, old_main: int, old_receivers: list[int],
) -> None:
    """Notify when time or places changed (old receivers too: they lose the lesson)."""
    moved = (lesson.starts_at, lesson.ends_at) != (old_starts_at, old_ends_at)
    places_changed = (lesson.main_classroom_id != old_main
                      or set(lesson.receiving_classroom_ids) != set(old_receivers))
    if not (moved or places_changed):
        return
    if moved and is_short_notice(lesson.starts_at, settings):
        lesson.short_notice = True
        await notify_short_notice(
            session, settings, lesson, await classroom_path(session, lesson.main_classroom_id)
        )
    await notify_lesson(
        session, settings, lesson, NoticeKind.LESSON_CHANGED,
        extra_classrooms=[old_main, *old_receivers],
        old_starts_at=old_starts_at.isoformat() if moved else None,
        removed_classrooms=sorted(set(old_receivers) - set(lesson.receiving_classroom_ids)),
    )
    await session.flush()


async def on_cancelled(session: AsyncSession, settings: Settings, lesson: Lesson) -> None:
    await notify_lesson(session, settings, lesson, NoticeKind.LESSON_CANCELLED)
    await session.flush()
