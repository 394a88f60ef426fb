"""巡课 (live patrol): an admin sees every live lesson in scope, watches unseen, flags issues.

The join issues a hidden, subscribe-only room token (role `observer`): the patrol
never appears in the participant list, never publishes and cannot chat. The answer
says `layer: "low"` so the patrol grid asks for the low layer of every thumbnail
and spares the village uplinks; opening one lesson switches it to high.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import aliased

from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.lessons import room_name, ws_url
from server.api.schemas import JoinResponse, Page
from server.audit import audit
from server.db.models import Classroom, Lesson, LessonState, OrgUnit, User, lesson_receiver
from server.db.models_supervision import PatrolFlag
from server.errors import InvalidState, ValidationFailed
from server.lessons import record_event
from server.policy import get_visible_lesson, lesson_places, require_admin, visible_lessons
from server.tokens import RoomGrants, RoomRole, issue_room_token

router = APIRouter(prefix="/api/patrol", tags=["patrol"])

Category = Literal[
    "no_video",
    "no_audio",
    "poor_network",
    "teacher_absent",
    "pupils_absent",
    "off_schedule",
    "other",
]


class LiveLesson(BaseModel):
    lesson_id: int
    title: str
    school_id: int
    school_name: str
    teacher_name: str
    starts_at: datetime
    actual_start: datetime | None
    receivers: int
    flags: int


class PatrolJoin(JoinResponse):
    layer: Literal["low", "high"] = "low"


class FlagCreate(BaseModel):
    category: Category
    note: str = Field(default="", max_length=2000)
    classroom_id: int | None = None


class FlagPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    lesson_id: int
    classroom_id: int | None
    author: str
    category: str
    note: str
    created_at: datetime


@router.get("/live", response_model=list[LiveLesson])
async def live_lessons(
    session: SessionDep,
    p: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 60,
) -> list[LiveLesson]:
    """Every live lesson the admin's scope touches (main or a receiving classroom)."""
    require_admin(p)
    school = aliased(OrgUnit)
    receivers = (
        sa.select(sa.func.count()).where(lesson_receiver.c.lesson_id == Lesson.id).scalar_subquery()
    )
    flags = sa.select(sa.func.count()).where(PatrolFlag.lesson_id == Lesson.id).scalar_subquery()
    rows = await session.execute(
        sa.select(
            Lesson.id,
            Lesson.title,
            school.id.label("school_id"),
            school.name.label("school_name"),
            User.display_name,
            Lesson.starts_at,
            Lesson.actual_start,
            receivers.label("receivers"),
            flags.label("flags"),
        )
        .join(Classroom, Classroom.id == Lesson.main_classroom_id)
        .join(school, school.id == Classroom.school_id)
        .join(User, User.id == Lesson.teacher_id)
        .where(Lesson.state == LessonState.LIVE, visible_lessons(p))
        .order_by(Lesson.actual_start, Lesson.id)
        .limit(limit)
    )
    return [
        LiveLesson(
            lesson_id=r.id,
            title=r.title,
            school_id=r.school_id,
            school_name=r.school_name,
            teacher_name=r.display_name,
            starts_at=r.starts_at,
            actual_start=r.actual_start,
            receivers=r.receivers,
            flags=r.flags,
        )
        for r in rows
    ]


async def _live_in_scope(session: SessionDep, p: CurrentPrincipal, lesson_id: int) -> Lesson:
    require_admin(p)
    lesson = await get_visible_lesson(session, p, lesson_id)
    if lesson.state is not LessonState.LIVE:
        raise InvalidState(
            "only live lessons can be patrolled",
            {"lesson_id": lesson_id, "state": lesson.state.value},
        )
    return lesson


@router.post("/lessons/{lesson_id}/join", response_model=PatrolJoin)
async def patrol_join(
    lesson_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
) -> PatrolJoin:
    lesson = await _live_in_scope(session, p, lesson_id)
    token = issue_room_token(
        settings.ensure_secret(),
        room=room_name(lesson.id),
        identity=f"patrol-{p.identity}",
        role=RoomRole.OBSERVER,
        ttl=settings.auth.room_token_ttl,
        name=p.name,
        grants=RoomGrants(publish=False, subscribe=True, hidden=True, moderate=False, chat=False),
        user_id=p.user_id,
    )
    audit(session, p, "patrol.joined", f"lesson:{lesson.id}")
    return PatrolJoin(
        token=token,
        room=room_name(lesson.id),
        ws_url=ws_url(settings, request),
        ice_servers=[s.model_dump(exclude_none=True) for s in settings.media.ice_servers],
        role=RoomRole.OBSERVER,
        lesson_id=lesson.id,
        identity=f"patrol-{p.identity}",
    )


@router.post(
    "/lessons/{lesson_id}/flags", response_model=FlagPublic, status_code=status.HTTP_201_CREATED
)
async def create_flag(
    lesson_id: int, body: FlagCreate, session: SessionDep, p: CurrentPrincipal
) -> PatrolFlag:
    """Store the issue and append `patrol.flagged` to the lesson's event log."""
    lesson = await _live_in_scope(session, p, lesson_id)
    if body.classroom_id is not None:
        places = await lesson_places(session, lesson)
        if body.classroom_id not in (lesson.main_classroom_id, *places.receiver_paths):
            raise ValidationFailed(
                "classroom_id is not a classroom of this lesson",
                {"classroom_id": body.classroom_id},
            )
    flag = PatrolFlag(
        lesson_id=lesson.id,
        classroom_id=body.classroom_id,
        author=p.identity,
        category=body.category,
        note=body.note,
    )
    session.add(flag)
    await session.flush()
    await record_event(
        session,
        lesson,
        "patrol.flagged",
        p.identity,
        {
            "flag_id": flag.id,
            "category": body.category,
            "classroom_id": body.classroom_id,
            "note": body.note,
        },
    )
    return flag


@router.get("/flags", response_model=Page[FlagPublic])
async def list_flags(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    lesson_id: int | None = None,
) -> Page[FlagPublic]:
    """Flags on lessons in the admin's scope, newest first."""
    require_admin(p)
    if lesson_id is not None:
        await get_visible_lesson(session, p, lesson_id)
    query = (
        sa.select(PatrolFlag)
        .where(PatrolFlag.lesson_id.in_(sa.select(Lesson.id).where(visible_lessons(p))))
        .order_by(PatrolFlag.id.desc())
    )
    if lesson_id is not None:
        query = query.where(PatrolFlag.lesson_id == lesson_id)
    total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = (await session.scalars(query.limit(paging.limit).offset(paging.offset))).all()
    return Page[FlagPublic](
        items=[FlagPublic.model_validate(r) for r in rows],
        total=total or 0,
        limit=paging.limit,
        offset=paging.offset,
    )
