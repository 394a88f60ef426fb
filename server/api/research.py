"""同步教研 (teaching research): sessions where teachers of several schools meet, and notes.

A session has a host, an optional course, a time and invites (teachers or whole
units); its room is `research-<id>` with `kind="research"`: everyone may publish
and drive the courseware. Notes are attached to a course; they are read and
written by the course's members: teachers of the course's school, teachers
invited to a research session on the course, and admins over the school.
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
from server.db.models import Course, Role
from server.db.models_collab import CourseNote, ResearchInvite, ResearchSession, SessionState
from server.errors import NotFound, PermissionDenied, ValidationFailed
from server.policy import is_admin_over, unit_path, visible_courses
from server.tokens import RoomRole

router = APIRouter(prefix="/api/research", tags=["research"])
notes = APIRouter(tags=["research"])


def room_name(session_id: int) -> str:
    return f"research-{session_id}"


class ResearchCreate(InviteFields):
    course_id: int | None = None


class ResearchPublic(BaseModel):
    id: int
    title: str
    course_id: int | None
    host_id: int
    org_unit_id: int
    starts_at: datetime
    ends_at: datetime
    state: SessionState
    invite_user_ids: list[int]
    invite_unit_ids: list[int]
    room: str


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: Annotated[str, Field(max_length=20_000)] = ""
    session_id: int | None = None


class NoteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    body: Annotated[str, Field(max_length=20_000)] | None = None


class NotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    course_id: int
    session_id: int | None
    author_id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


# --- scope ---------------------------------------------------------------------------------


def visible_sessions(p: Principal) -> sa.ColumnElement[bool]:
    return visible_convened(p, ResearchSession, ResearchInvite, ResearchInvite.session_id)


async def get_visible_session(
    session: AsyncSession, p: Principal, session_id: int
) -> ResearchSession:
    research: ResearchSession = await get_visible_convened(
        session, p, ResearchSession, "session_id", session_id, "research session",
        visible_sessions(p),
    )
    return research


async def require_course_member(session: AsyncSession, p: Principal, course: Course) -> None:
    """Teachers of the course's school, invitees of a session on it, admins over the school."""
    school = await unit_path(session, course.school_id)
    if is_admin_over(p, school):
        return
    if p.role in (Role.TEACHER, Role.RESEARCHER) and school.startswith(p.org_path):
        return
    if p.role in (Role.TEACHER, Role.RESEARCHER):
        invited = await session.scalar(
            sa.select(sa.func.count())
            .select_from(ResearchSession)
            .where(ResearchSession.course_id == course.id, visible_sessions(p))
        )
        if invited:
            return
    raise PermissionDenied("you are not a member of this course", {"course_id": course.id})


async def _invites(session: AsyncSession, session_id: int) -> tuple[list[int], list[int]]:
    rows = (
        await session.execute(
            sa.select(ResearchInvite.user_id, ResearchInvite.org_unit_id)
            .where(ResearchInvite.session_id == session_id)
            .order_by(ResearchInvite.id)
        )
    ).tuples().all()
    return [u for u, _ in rows if u is not None], [o for _, o in rows if o is not None]


async def _public(session: AsyncSession, r: ResearchSession) -> ResearchPublic:
    users, units = await _invites(session, r.id)
    return ResearchPublic(
        id=r.id, title=r.title, course_id=r.course_id, host_id=r.host_id,
        org_unit_id=r.org_unit_id, starts_at=r.starts_at, ends_at=r.ends_at, state=r.state,
        invite_user_ids=users, invite_unit_ids=units, room=room_name(r.id),
    )


def _require_host_or_admin(p: Principal, r: ResearchSession, host_path: str) -> None:
    if p.user_id == r.host_id or is_admin_over(p, host_path):
        return
    raise PermissionDenied("only the host or an admin in scope may do that")


# --- sessions ------------------------------------------------------------------------------


@router.post("", response_model=ResearchPublic, status_code=status.HTTP_201_CREATED)
async def create_session(
    body: ResearchCreate, session: SessionDep, p: CurrentPrincipal
) -> ResearchPublic:
    require_can_convene(p, "research session")
    if body.course_id is not None:
        course = await session.scalar(
            sa.select(Course).where(Course.id == body.course_id, visible_courses(p))
        )
        if course is None:
            raise ValidationFailed("course not found in your scope", {"course_id": body.course_id})
    await check_invites(session, p, Invites(body.invite_user_ids, body.invite_unit_ids))
    assert p.user_id is not None
    research = ResearchSession(
        title=body.title, course_id=body.course_id, host_id=p.user_id,
        org_unit_id=p.org_unit_id, starts_at=body.starts_at, ends_at=body.ends_at,
    )
    session.add(research)
    await session.flush()
    session.add_all(
        [ResearchInvite(session_id=research.id, user_id=u) for u in body.invite_user_ids]
        + [ResearchInvite(session_id=research.id, org_unit_id=o) for o in body.invite_unit_ids]
    )
    await session.flush()
    audit(session, p, "research.created", f"research:{research.id}")
    return await _public(session, research)


@router.get("", response_model=list[ResearchPublic])
async def list_sessions(
    session: SessionDep, p: CurrentPrincipal, course_id: int | None = None
) -> list[ResearchPublic]:
    query = sa.select(ResearchSession).where(visible_sessions(p))
    if course_id is not None:
        query = query.where(ResearchSession.course_id == course_id)
    rows = (await session.scalars(query.order_by(ResearchSession.starts_at).limit(500))).all()
    return [await _public(session, r) for r in rows]


@router.get("/{session_id}", response_model=ResearchPublic)
async def get_session(session_id: int, session: SessionDep, p: CurrentPrincipal) -> ResearchPublic:
    return await _public(session, await get_visible_session(session, p, session_id))


@router.post("/{session_id}/join", response_model=RoomJoin)
async def join_session(
    session_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
) -> RoomJoin:
    """Host: moderator; invitees: researchers (everyone publishes); admins in scope: hidden."""
    research = await get_visible_session(session, p, session_id)
    require_joinable(
        research.starts_at, research.ends_at, research.state is SessionState.ENDED,
        "research session",
    )
    if p.user_id == research.host_id:
        role = RoomRole.TEACHER
    elif p.role in (Role.TEACHER, Role.RESEARCHER):
        invited = await session.scalar(
            sa.select(sa.func.count())
            .select_from(ResearchSession)
            .where(
                ResearchSession.id == session_id,
                ResearchSession.id.in_(
                    invited_clause(
                        p, ResearchInvite.session_id, ResearchInvite.user_id,
                        ResearchInvite.org_unit_id,
                    )
                ),
            )
        )
        if not invited:
            raise PermissionDenied("you are not invited to this research session")
        role = RoomRole.RESEARCHER
    elif p.role is Role.ADMIN:
        role = RoomRole.OBSERVER
    else:
        raise PermissionDenied("you have no role in this research session")
    return room_join(settings, request, p, room=room_name(research.id), role=role,
                     kind="research")


@router.post("/{session_id}/end", response_model=ResearchPublic)
async def end_session(
    session_id: int,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    p: CurrentPrincipal,
) -> ResearchPublic:
    research = await get_visible_session(session, p, session_id)
    _require_host_or_admin(p, research, await unit_path(session, research.org_unit_id))
    research.state = SessionState.ENDED
    await session.flush()
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        background.add_task(hub.close_room, room_name(session_id), "the research session ended")
    audit(session, p, "research.ended", f"research:{session_id}")
    return await _public(session, research)


# --- notes ---------------------------------------------------------------------------------


async def _course(session: AsyncSession, p: Principal, course_id: int) -> Course:
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound("course not found", {"course_id": course_id})
    await require_course_member(session, p, course)
    return course


def _require_writer(p: Principal) -> None:
    if p.role not in (Role.TEACHER, Role.RESEARCHER, Role.ADMIN) or p.user_id is None:
        raise PermissionDenied("only teachers, researchers and admins write notes")


@notes.get("/api/courses/{course_id}/notes", response_model=list[NotePublic])
async def list_notes(course_id: int, session: SessionDep, p: CurrentPrincipal) -> list[CourseNote]:
    await _course(session, p, course_id)
    rows = await session.scalars(
        sa.select(CourseNote).where(CourseNote.course_id == course_id).order_by(CourseNote.id)
    )
    return list(rows.all())


@notes.post(
    "/api/courses/{course_id}/notes", response_model=NotePublic,
    status_code=status.HTTP_201_CREATED,
)
async def create_note(
    course_id: int, body: NoteCreate, session: SessionDep, p: CurrentPrincipal
) -> CourseNote:
    _require_writer(p)
    await _course(session, p, course_id)
    if body.session_id is not None:
        research = await get_visible_session(session, p, body.session_id)
        if research.course_id != course_id:
            raise ValidationFailed(
                "that research session is not about this course", {"session_id": body.session_id}
            )
    assert p.user_id is not None
    note = CourseNote(course_id=course_id, author_id=p.user_id, **body.model_dump())
    session.add(note)
    await session.flush()
    await session.refresh(note)
    return note


async def _note(session: AsyncSession, p: Principal, note_id: int) -> CourseNote:
    note = await session.get(CourseNote, note_id)
    if note is None:
        raise NotFound("note not found", {"note_id": note_id})
    await _course(session, p, note.course_id)
    return note


async def _require_author_or_admin(session: AsyncSession, p: Principal, note: CourseNote) -> None:
    if p.user_id == note.author_id:
        return
    course = await session.get(Course, note.course_id)
    if course is not None and is_admin_over(p, await unit_path(session, course.school_id)):
        return
    raise PermissionDenied("only the author or an admin may change a note")


@notes.get("/api/notes/{note_id}", response_model=NotePublic)
async def get_note(note_id: int, session: SessionDep, p: CurrentPrincipal) -> CourseNote:
    return await _note(session, p, note_id)


@notes.patch("/api/notes/{note_id}", response_model=NotePublic)
async def update_note(
    note_id: int, body: NoteUpdate, session: SessionDep, p: CurrentPrincipal
) -> CourseNote:
    note = await _note(session, p, note_id)
    await _require_author_or_admin(session, p, note)
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None:
            raise ValidationFailed(f"{key} cannot be null")
        setattr(note, key, value)
    await session.flush()
    await session.refresh(note)
    return note


@notes.delete("/api/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_note(note_id: int, session: SessionDep, p: CurrentPrincipal) -> None:
    note = await _note(session, p, note_id)
    await _require_author_or_admin(session, p, note)
    await session.delete(note)
