"""iCalendar feeds per teacher and per classroom, behind a secret URL.

Calendar apps (Outlook, Apple/Google Calendar, phones) subscribe to a URL and
cannot send a bearer token, so the feed URL itself carries a random token
(`/api/calendar/<token>.ics`). Only its SHA-256 is stored; the plain token is
shown once, at creation. Who may create a feed: a teacher for themself, an
admin for any teacher or classroom in scope, a classroom device for itself.
A revoked or unknown token is a 404; a malformed one a 400 (a typo in a
pasted URL is told apart from a revoked feed).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from server.api.common import audit
from server.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from server.api.schemas import Input
from server.db.models import Classroom, Lesson, Role, User, lesson_receiver, utcnow
from server.db.models_reach import CalendarFeed, FeedKind
from server.errors import BadRequest, NotFound, PermissionDenied, ValidationFailed
from server.notices.ics import lesson_calendar
from server.policy import classroom_path, is_admin_over, unit_path

router = APIRouter(prefix="/api/calendar", tags=["calendar"])
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
MAX_DAYS = 400


class FeedCreate(Input):
    kind: FeedKind
    subject_id: int


class FeedCreated(BaseModel):
    id: int
    kind: FeedKind
    subject_id: int
    token: str
    url: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _require_feed_rights(session: Any, p: Any, kind: FeedKind, subject_id: int) -> None:
    if kind is FeedKind.TEACHER:
        user = await session.get(User, subject_id)
        if user is None or user.role not in (Role.TEACHER, Role.RESEARCHER):
            raise ValidationFailed("subject_id is not a teacher", {"subject_id": subject_id})
        if p.user_id == subject_id:
            return
        if is_admin_over(p, await unit_path(session, user.org_unit_id)):
            return
        raise PermissionDenied("you may create feeds only for yourself or teachers in scope")
    classroom = await session.get(Classroom, subject_id)
    if classroom is None:
        raise ValidationFailed("classroom not found", {"subject_id": subject_id})
    if p.classroom_id == subject_id:
        return
    if is_admin_over(p, await classroom_path(session, subject_id)):
        return
    raise PermissionDenied("you may create feeds only for classrooms in your scope")


@router.post("/feeds", response_model=FeedCreated, status_code=status.HTTP_201_CREATED)
async def create_feed(
    body: FeedCreate, request: Request, session: SessionDep, settings: SettingsDep,
    p: CurrentPrincipal,
) -> FeedCreated:
    await _require_feed_rights(session, p, body.kind, body.subject_id)
    if p.user_id is None and p.classroom_id is None:
        raise PermissionDenied("unknown caller")
    token = secrets.token_urlsafe(32)
    creator = p.user_id
    if creator is None:
        raise PermissionDenied("a classroom device's feed is created by an admin")
    row = CalendarFeed(kind=body.kind, subject_id=body.subject_id, token_hash=_hash(token),
                       created_by=creator)
    session.add(row)
    await session.flush()
    audit(session, p, "calendar.feed_created", f"{body.kind.value}:{body.subject_id}")
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return FeedCreated(id=row.id, kind=row.kind, subject_id=row.subject_id, token=token,
                       url=f"{base}/api/calendar/{token}.ics")


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_feed(feed_id: int, session: SessionDep, p: CurrentPrincipal) -> None:
    row = await session.get(CalendarFeed, feed_id)
    if row is None or row.revoked_at is not None:
        raise NotFound("calendar feed not found", {"feed_id": feed_id})
    if row.created_by != p.user_id:
        await _require_feed_rights(session, p, row.kind, row.subject_id)
    row.revoked_at = utcnow()
    audit(session, p, "calendar.feed_revoked", f"feed:{feed_id}")


@router.get("/{filename}", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
async def feed(
    filename: str, request: Request, session: SessionDep, settings: SettingsDep,
    past_days: Annotated[int, Query(ge=0, le=MAX_DAYS)] = 30,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 120,
) -> Response:
    """The .ics of a feed token; lessons from `past_days` ago to `days` ahead."""
    if not filename.endswith(".ics"):
        raise BadRequest("a calendar feed URL ends in .ics", {"path": filename})
    token = filename.removesuffix(".ics")
    if not TOKEN_RE.match(token):
        raise BadRequest("malformed calendar token", {"path": filename})
    row = await session.scalar(
        sa.select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token))
    )
    if row is None or row.revoked_at is not None:
        raise NotFound("calendar feed not found or revoked")
    now = utcnow()
    lo: datetime = now - timedelta(days=past_days)
    hi: datetime = now + timedelta(days=days)
    query = sa.select(Lesson).where(Lesson.ends_at > lo, Lesson.starts_at < hi)
    if row.kind is FeedKind.TEACHER:
        query = query.where(Lesson.teacher_id == row.subject_id)
        who = await session.get(User, row.subject_id)
        name = f"同步课堂 · {who.display_name if who else row.subject_id}"
    else:
        query = query.where(sa.or_(
            Lesson.main_classroom_id == row.subject_id,
            Lesson.id.in_(sa.select(lesson_receiver.c.lesson_id)
                          .where(lesson_receiver.c.classroom_id == row.subject_id)),
        ))
        room = await session.get(Classroom, row.subject_id)
        name = f"同步课堂 · {room.name if room else row.subject_id}"
    lessons = list((await session.scalars(query.order_by(Lesson.starts_at))).all())
    ids = {c for x in lessons for c in (x.main_classroom_id, *x.receiving_classroom_ids)}
    places = dict((await session.execute(
        sa.select(Classroom.id, Classroom.name).where(Classroom.id.in_(ids))
    )).tuples().all())
    body = lesson_calendar(name, lessons, base_url=settings.public_url or str(request.base_url),
                           places=places)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})
