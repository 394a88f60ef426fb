"""同步视讯 (meetings): county or school video conferences with a host.

The host (a moderator in the room) talks and shares the screen at any time;
participants ask for the floor and are heard once the host grants it (the
room's floor mechanism; `kind="meeting"` makes the room follow that policy).
Invites name users or units: every user and every classroom device under an
invited unit may join (a school's meeting room is a classroom device).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit
from server.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from server.api.invites import (
    InviteFields,
    Invites,
    RoomJoin,
    check_invites,
    get_visible_convened,
    invited_clause,
    require_can_convene,
    require_joinable,
    room_join,
    visible_convened,
)
from server.auth import Principal
from server.db.models import Role
from server.db.models_collab import Meeting, MeetingInvite, SessionState
from server.errors import PermissionDenied
from server.policy import is_admin_over, unit_path
from server.tokens import RoomRole

router = APIRouter(prefix="/api/meetings", tags=["meetings"])


def room_name(meeting_id: int) -> str:
    return f"meeting-{meeting_id}"


class MeetingCreate(InviteFields):
    pass


class InviteAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: Annotated[list[int], Field(max_length=200)] = []
    unit_ids: Annotated[list[int], Field(max_length=200)] = []


class MeetingPublic(BaseModel):
    id: int
    title: str
    host_id: int
    org_unit_id: int
    starts_at: datetime
    ends_at: datetime
    state: SessionState
    invite_user_ids: list[int]
    invite_unit_ids: list[int]
    room: str


def visible_meetings(p: Principal) -> sa.ColumnElement[bool]:
    return visible_convened(p, Meeting, MeetingInvite, MeetingInvite.meeting_id)


async def get_visible_meeting(session: AsyncSession, p: Principal, meeting_id: int) -> Meeting:
    meeting: Meeting = await get_visible_convened(
        session, p, Meeting, "meeting_id", meeting_id, "meeting", visible_meetings(p)
    )
    return meeting


async def _public(session: AsyncSession, m: Meeting) -> MeetingPublic:
    rows = (
        await session.execute(
            sa.select(MeetingInvite.user_id, MeetingInvite.org_unit_id)
            .where(MeetingInvite.meeting_id == m.id)
            .order_by(MeetingInvite.id)
        )
    ).tuples().all()
    return MeetingPublic(
        id=m.id, title=m.title, host_id=m.host_id, org_unit_id=m.org_unit_id,
        starts_at=m.starts_at, ends_at=m.ends_at, state=m.state,
        invite_user_ids=[u for u, _ in rows if u is not None],
        invite_unit_ids=[o for _, o in rows if o is not None],
        room=room_name(m.id),
    )


async def _require_host_or_admin(session: AsyncSession, p: Principal, m: Meeting) -> None:
    if p.user_id == m.host_id or is_admin_over(p, await unit_path(session, m.org_unit_id)):
        return
    raise PermissionDenied("only the host or an admin in scope may do that")


@router.post("", response_model=MeetingPublic, status_code=status.HTTP_201_CREATED)
async def create_meeting(
    body: MeetingCreate, session: SessionDep, p: CurrentPrincipal
) -> MeetingPublic:
    require_can_convene(p, "meeting")
    await check_invites(session, p, Invites(body.invite_user_ids, body.invite_unit_ids))
    assert p.user_id is not None
    meeting = Meeting(
        title=body.title, host_id=p.user_id, org_unit_id=p.org_unit_id,
        starts_at=body.starts_at, ends_at=body.ends_at,
    )
    session.add(meeting)
    await session.flush()
    _add_invites(session, meeting.id, body.invite_user_ids, body.invite_unit_ids)
    await session.flush()
    audit(session, p, "meeting.created", f"meeting:{meeting.id}")
    return await _public(session, meeting)


def _add_invites(
    session: AsyncSession, meeting_id: int, users: list[int], units: list[int]
) -> None:
    session.add_all(
        [MeetingInvite(meeting_id=meeting_id, user_id=u) for u in users]
        + [MeetingInvite(meeting_id=meeting_id, org_unit_id=o) for o in units]
    )


@router.get("", response_model=list[MeetingPublic])
async def list_meetings(session: SessionDep, p: CurrentPrincipal) -> list[MeetingPublic]:
    rows = (
        await session.scalars(
            sa.select(Meeting).where(visible_meetings(p)).order_by(Meeting.starts_at).limit(500)
        )
    ).all()
    return [await _public(session, m) for m in rows]


@router.get("/{meeting_id}", response_model=MeetingPublic)
async def get_meeting(meeting_id: int, session: SessionDep, p: CurrentPrincipal) -> MeetingPublic:
    return await _public(session, await get_visible_meeting(session, p, meeting_id))


@router.post("/{meeting_id}/invites", response_model=MeetingPublic)
async def invite(
    meeting_id: int, body: InviteAdd, session: SessionDep, p: CurrentPrincipal
) -> MeetingPublic:
    """Invite more users or units (already invited ones are skipped)."""
    meeting = await get_visible_meeting(session, p, meeting_id)
    await _require_host_or_admin(session, p, meeting)
    current = await _public(session, meeting)
    users = [u for u in dict.fromkeys(body.user_ids) if u not in current.invite_user_ids]
    units = [o for o in dict.fromkeys(body.unit_ids) if o not in current.invite_unit_ids]
    await check_invites(session, p, Invites(users, units))
    _add_invites(session, meeting.id, users, units)
    await session.flush()
    return await _public(session, meeting)


@router.post("/{meeting_id}/join", response_model=RoomJoin)
async def join_meeting(
    meeting_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
) -> RoomJoin:
    """Host: moderator; invitees (users or devices): participants; admins in scope: hidden."""
    meeting = await get_visible_meeting(session, p, meeting_id)
    require_joinable(
        meeting.starts_at, meeting.ends_at, meeting.state is SessionState.ENDED, "meeting"
    )
    if p.user_id is not None and p.user_id == meeting.host_id:
        role = RoomRole.TEACHER
    else:
        invited = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Meeting)
            .where(
                Meeting.id == meeting_id,
                Meeting.id.in_(
                    invited_clause(
                        p, MeetingInvite.meeting_id, MeetingInvite.user_id,
                        MeetingInvite.org_unit_id,
                    )
                ),
            )
        )
        if invited:
            role = RoomRole.CLASSROOM if p.role is Role.CLASSROOM else RoomRole.PARTICIPANT
        elif p.role is Role.ADMIN:
            role = RoomRole.OBSERVER
        else:
            raise PermissionDenied("you are not invited to this meeting")
    return room_join(settings, request, p, room=room_name(meeting.id), role=role, kind="meeting")


@router.post("/{meeting_id}/end", response_model=MeetingPublic)
async def end_meeting(
    meeting_id: int,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    p: CurrentPrincipal,
) -> MeetingPublic:
    meeting = await get_visible_meeting(session, p, meeting_id)
    await _require_host_or_admin(session, p, meeting)
    meeting.state = SessionState.ENDED
    await session.flush()
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        background.add_task(hub.close_room, room_name(meeting_id), "the meeting ended")
    audit(session, p, "meeting.ended", f"meeting:{meeting_id}")
    return await _public(session, meeting)
