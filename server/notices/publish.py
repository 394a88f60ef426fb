"""Publishing a week's timetable (课表下发) to the schools it concerns.

The week is the Monday-based local week (settings.timezone) of `week`; the
lessons are the scheduled ones whose main or receiving classroom lies under
the unit being published. Publishing again (after changes) simply sends the
week again; each publication is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db.models import Classroom, Lesson, LessonState, OrgUnit, lesson_receiver
from server.db.models_reach import TimetablePublication
from server.notices.notify import is_short_notice, notify_week
from server.settings import Settings


@dataclass(frozen=True)
class Published:
    publication_id: int
    week_start: date
    lessons: int
    short_notice: int
    users_notified: int
    emails_queued: int
    schools: list[int]


def week_bounds(week: date, tz: str) -> tuple[date, datetime, datetime]:
    monday = week - timedelta(days=week.weekday())
    start = datetime.combine(monday, time.min, tzinfo=ZoneInfo(tz))
    return monday, start, start + timedelta(days=7)


async def publish_week(
    session: AsyncSession, settings: Settings, p: Principal, unit: OrgUnit, week: date
) -> Published:
    monday, lo, hi = week_bounds(week, settings.timezone)
    in_unit = sa.select(Classroom.id).where(
        Classroom.school_id.in_(
            sa.select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path, autoescape=True))
        )
    )
    lessons = list((await session.scalars(
        sa.select(Lesson)
        .where(
            Lesson.state == LessonState.SCHEDULED,
            Lesson.starts_at >= lo, Lesson.starts_at < hi,
            sa.or_(Lesson.main_classroom_id.in_(in_unit),
                   Lesson.id.in_(sa.select(lesson_receiver.c.lesson_id)
                                 .where(lesson_receiver.c.classroom_id.in_(in_unit)))),
        )
        .order_by(Lesson.starts_at, Lesson.id)
    )).all())
    for lesson in lessons:
        # Published less than two days before it starts: flagged for the admins.
        if is_short_notice(lesson.starts_at, settings):
            lesson.short_notice = True
    audience = await notify_week(session, settings, lessons, monday.isoformat())
    row = TimetablePublication(
        org_unit_id=unit.id, week_start=monday, lessons=len(lessons),
        short_notice=sum(1 for x in lessons if x.short_notice), published_by=p.user_id,
    )
    session.add(row)
    await session.flush()
    return Published(row.id, monday, len(lessons), row.short_notice, len(audience.users),
                     len(audience.emails), audience.schools)
