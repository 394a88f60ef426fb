"""Write notifications and queue e-mails in the caller's transaction.

Why in the same transaction: a lesson change and the notices about it commit
together or not at all, so a crash between them can neither lose a notice nor
announce a change that did not happen. The outbox row is the durable queue the
mailer works from (transactional outbox pattern).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Lesson, utcnow
from server.db.models_reach import MailOutbox, NoticeKind, Notification
from server.notices.recipients import Audience, admins_over, audience_for
from server.settings import Settings

SUBJECTS = {
    NoticeKind.TIMETABLE_PUBLISHED: ("课表已发布", "Timetable published"),
    NoticeKind.LESSON_CREATED: ("新增课程", "New lesson"),
    NoticeKind.LESSON_CHANGED: ("课程变更", "Lesson changed"),
    NoticeKind.LESSON_CANCELLED: ("课程取消", "Lesson cancelled"),
    NoticeKind.SHORT_NOTICE: ("课程安排不足两天", "Lesson scheduled at short notice"),
}


def is_short_notice(starts_at: datetime, settings: Settings, now: datetime | None = None) -> bool:
    """Whether a lesson starting at `starts_at` is announced less than the minimum ahead."""
    return starts_at - (now or utcnow()) < timedelta(hours=settings.notices.min_notice_hours)


def lesson_payload(lesson: Lesson, **extra: Any) -> dict[str, Any]:
    return {
        "lesson_id": lesson.id,
        "title": lesson.title,
        "starts_at": lesson.starts_at.isoformat(),
        "ends_at": lesson.ends_at.isoformat(),
        "short_notice": bool(lesson.short_notice),
        **extra,
    }


def _local(value: str, tz: str) -> str:
    return datetime.fromisoformat(value).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def mail_text(kind: NoticeKind, payload: dict[str, Any], tz: str) -> tuple[str, str]:
    """Subject and plain-text body, Chinese first then English."""
    zh, en = SUBJECTS[kind]
    lines = [f"{zh} / {en}", ""]
    if kind is NoticeKind.TIMETABLE_PUBLISHED:
        lines.append(f"周 / Week of {payload['week_start']}: {payload['lessons']} 节课 / lessons")
        for item in payload.get("items", [])[:50]:
            lines.append(f"  {_local(item['starts_at'], tz)}  {item['title']}")
    else:
        lines.append(f"{payload['title']}")
        start, end = _local(payload["starts_at"], tz), _local(payload["ends_at"], tz)
        lines.append(f"{start} – {end} ({tz})")
        if payload.get("old_starts_at"):
            lines.append(f"原时间 / was: {_local(payload['old_starts_at'], tz)}")
        if payload.get("short_notice"):
            lines.append("注意：距开课不足两天 / Note: less than two days' notice")
    subject = f"[同步课堂] {zh} {payload.get('title', payload.get('week_start', ''))}"
    return subject[:300], "\n".join(lines) + "\n"


def _emit(
    session: AsyncSession, settings: Settings, audience: Audience, kind: NoticeKind,
    payload: dict[str, Any], lesson_id: int | None,
) -> int:
    for user_id, school_id in audience.users.items():
        session.add(Notification(user_id=user_id, kind=kind, lesson_id=lesson_id,
                                 school_id=school_id, payload=payload))
    if audience.emails:
        subject, body = mail_text(kind, payload, settings.timezone)
        now = utcnow()
        for email in sorted(audience.emails):
            session.add(MailOutbox(to_addr=email, subject=subject, body=body, kind=kind,
                                   next_attempt_at=now))
    return len(audience.users)


async def notify_lesson(
    session: AsyncSession, settings: Settings, lesson: Lesson, kind: NoticeKind,
    *, extra_classrooms: list[int] | None = None, **extra: Any,
) -> int:
    """Tell everyone the lesson concerns (old receivers too, via `extra_classrooms`)."""
    audience = await audience_for(session, [lesson], extra_classrooms)
    return _emit(session, settings, audience, kind, lesson_payload(lesson, **extra), lesson.id)


async def notify_short_notice(
    session: AsyncSession, settings: Settings, lesson: Lesson, main_path: str
) -> int:
    """Flag a short-notice lesson to the admins over its main classroom's school."""
    admins = await admins_over(session, main_path)
    audience = Audience(users=dict.fromkeys(admins))
    return _emit(session, settings, audience, NoticeKind.SHORT_NOTICE,
                 lesson_payload(lesson), lesson.id)


async def notify_week(
    session: AsyncSession, settings: Settings, lessons: list[Lesson], week_start: str
) -> Audience:
    """One timetable notice per person/office, listing the week's lessons that concern them."""
    overall = await audience_for(session, lessons)

    def concerning(user_id: int | None, school_id: int | None) -> list[Lesson]:
        if school_id is None:  # the teacher: their own lessons
            return [x for x in lessons if x.teacher_id == user_id]
        # a school's people and office: every lesson of the week in that school
        return [x for x in lessons if school_id in _schools(overall, x)]

    for user_id, school_id in overall.users.items():
        payload = _week_payload(concerning(user_id, school_id), week_start)
        session.add(Notification(user_id=user_id, kind=NoticeKind.TIMETABLE_PUBLISHED,
                                 school_id=school_id, payload=payload))
    now = utcnow()
    for email, (contact_user, contact_school) in sorted(overall.emails.items()):
        payload = _week_payload(concerning(contact_user, contact_school), week_start)
        subject, body = mail_text(NoticeKind.TIMETABLE_PUBLISHED, payload, settings.timezone)
        session.add(MailOutbox(to_addr=email, subject=subject, body=body,
                               kind=NoticeKind.TIMETABLE_PUBLISHED, next_attempt_at=now))
    return overall


def _schools(audience: Audience, lesson: Lesson) -> set[int]:
    ids = (lesson.main_classroom_id, *lesson.receiving_classroom_ids)
    return {audience.school_of[c] for c in ids if c in audience.school_of}


def _week_payload(lessons: list[Lesson], week_start: str) -> dict[str, Any]:
    return {
        "week_start": week_start,
        "lessons": len(lessons),
        "short_notice": sum(1 for x in lessons if x.short_notice),
        "items": [lesson_payload(x) for x in lessons[:200]],
    }
