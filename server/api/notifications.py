"""Timetable notices: the in-app list, contacts for e-mail, publishing a week, short notice.

Every list is the caller's own (notifications are fanned out per user when a
lesson is created, changed, cancelled or a week is published; see
server/notices/notify.py). Admins also see lessons flagged short-notice in
their scope and the e-mail outbox's state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, status
from pydantic import BaseModel, StringConstraints

from server.api.common import audit
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.schemas import Input, Page, Public
from server.db.models import Lesson, LessonState, OrgUnit, utcnow
from server.db.models_reach import MailOutbox, MailState, NoticeContact, NoticeKind, Notification
from server.errors import NotFound, PermissionDenied
from server.notices.publish import publish_week
from server.policy import (
    is_admin_over,
    require_admin,
    require_admin_over,
    unit_path,
    visible_lessons,
)

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
timetable = APIRouter(prefix="/api/timetable", tags=["timetable"])


class NotificationPublic(Public):
    id: int
    kind: NoticeKind
    lesson_id: int | None
    school_id: int | None
    payload: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class UnreadCount(BaseModel):
    unread: int


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254,
                      pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"),
]


class ContactSet(Input):
    email: Email


class ContactPublic(Public):
    user_id: int | None
    org_unit_id: int | None
    email: str


class PublishWeek(Input):
    org_unit_id: int
    week: date


class PublishResult(BaseModel):
    publication_id: int
    week_start: date
    lessons: int
    short_notice: int
    users_notified: int
    emails_queued: int
    schools: list[int]


class ShortNoticeLesson(Public):
    id: int
    title: str
    state: LessonState
    starts_at: datetime
    ends_at: datetime
    teacher_id: int
    main_classroom_id: int
    short_notice: bool


class OutboxState(BaseModel):
    pending: int
    sent: int
    oldest_pending: datetime | None
    last_error: str | None


def _user(p: Any) -> int:
    if p.user_id is None:
        raise PermissionDenied("classroom devices have no notification inbox")
    return int(p.user_id)


@router.get("", response_model=Page[NotificationPublic])
async def list_notifications(
    session: SessionDep, p: CurrentPrincipal, paging: PagingDep,
    unread: bool = False, kind: NoticeKind | None = None,
) -> Page[NotificationPublic]:
    query = sa.select(Notification).where(Notification.user_id == _user(p))
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if kind is not None:
        query = query.where(Notification.kind == kind)
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.subquery())
    )
    rows = (await session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(paging.limit).offset(paging.offset)
    )).all()
    return Page[NotificationPublic](
        items=[NotificationPublic.model_validate(r) for r in rows], total=total or 0,
        limit=paging.limit, offset=paging.offset,
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(session: SessionDep, p: CurrentPrincipal) -> UnreadCount:
    n = await session.scalar(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == _user(p), Notification.read_at.is_(None))
    )
    return UnreadCount(unread=int(n or 0))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def mark_read(notification_id: int, session: SessionDep, p: CurrentPrincipal) -> Any:
    row = await session.get(Notification, notification_id)
    # Someone else's notification is reported as missing: ids are not a way to probe inboxes.
    if row is None or row.user_id != _user(p):
        raise NotFound("notification not found", {"notification_id": notification_id})
    if row.read_at is None:
        row.read_at = utcnow()
        await session.flush()
    return NotificationPublic.model_validate(row)


@router.post("/read-all", response_model=UnreadCount)
async def mark_all_read(session: SessionDep, p: CurrentPrincipal) -> UnreadCount:
    await session.execute(
        sa.update(Notification)
        .where(Notification.user_id == _user(p), Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return UnreadCount(unread=0)


@router.put("/contacts/me", response_model=ContactPublic)
async def set_my_email(body: ContactSet, session: SessionDep, p: CurrentPrincipal) -> Any:
    """The caller's own address for notice e-mails."""
    user_id = _user(p)
    row = await session.scalar(sa.select(NoticeContact).where(NoticeContact.user_id == user_id))
    if row is None:
        row = NoticeContact(user_id=user_id, email=str(body.email))
        session.add(row)
    row.email = str(body.email)
    await session.flush()
    return ContactPublic.model_validate(row)


@router.put("/contacts/units/{unit_id}", response_model=ContactPublic)
async def set_unit_email(
    unit_id: int, body: ContactSet, session: SessionDep, p: CurrentPrincipal
) -> Any:
    """A school's office address (an admin over the school sets it)."""
    require_admin_over(p, await unit_path(session, unit_id))
    row = await session.scalar(
        sa.select(NoticeContact).where(NoticeContact.org_unit_id == unit_id)
    )
    if row is None:
        row = NoticeContact(org_unit_id=unit_id, email=str(body.email))
        session.add(row)
    row.email = str(body.email)
    await session.flush()
    audit(session, p, "notices.contact_set", f"org_unit:{unit_id}")
    return ContactPublic.model_validate(row)


@router.get("/short-notice", response_model=Page[ShortNoticeLesson])
async def short_notice_lessons(
    session: SessionDep, p: CurrentPrincipal, paging: PagingDep,
    include_past: Annotated[bool, Query()] = False,
) -> Page[ShortNoticeLesson]:
    """Lessons created or moved with less than two days' notice, in the admin's scope."""
    require_admin(p)
    query = sa.select(Lesson).where(Lesson.short_notice.is_(True), visible_lessons(p))
    if not include_past:
        query = query.where(Lesson.ends_at > utcnow())
    total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = (await session.scalars(
        query.order_by(Lesson.starts_at).limit(paging.limit).offset(paging.offset)
    )).all()
    return Page[ShortNoticeLesson](
        items=[ShortNoticeLesson.model_validate(r) for r in rows], total=total or 0,
        limit=paging.limit, offset=paging.offset,
    )


@router.get("/outbox", response_model=OutboxState)
async def outbox_state(session: SessionDep, p: CurrentPrincipal) -> OutboxState:
    """How the e-mail queue is doing (admins): pending, sent, the oldest waiting, last error."""
    require_admin(p)
    counts = dict((await session.execute(
        sa.select(MailOutbox.state, sa.func.count()).group_by(MailOutbox.state)
    )).tuples().all())
    oldest = await session.scalar(
        sa.select(sa.func.min(MailOutbox.created_at)).where(MailOutbox.state == MailState.PENDING)
    )
    last_error = await session.scalar(
        sa.select(MailOutbox.last_error)
        .where(MailOutbox.state == MailState.PENDING, MailOutbox.last_error != "")
        .order_by(MailOutbox.id.desc()).limit(1)
    )
    return OutboxState(pending=counts.get(MailState.PENDING, 0),
                       sent=counts.get(MailState.SENT, 0),
                       oldest_pending=oldest, last_error=last_error)


@timetable.post("/publish", response_model=PublishResult, status_code=status.HTTP_201_CREATED)
async def publish(
    body: PublishWeek, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> PublishResult:
    """Send a week's timetable to every school and teacher it concerns (admins in scope)."""
    unit = await session.get(OrgUnit, body.org_unit_id)
    if unit is None:
        raise NotFound("org unit not found", {"org_unit_id": body.org_unit_id})
    if not is_admin_over(p, unit.path):
        raise PermissionDenied("only an admin whose scope contains this unit may publish")
    result = await publish_week(session, settings, p, unit, body.week)
    audit(session, p, "timetable.published", f"org_unit:{unit.id}",
          {"week_start": result.week_start.isoformat(), "lessons": result.lessons})
    return PublishResult(**result.__dict__)
