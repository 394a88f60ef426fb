"""Classrooms and the admin side of device pairing."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique, paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.schemas import (
    ClassroomCreate,
    ClassroomPublic,
    ClassroomUpdate,
    Page,
    PairingCodePublic,
)
from server.auth import Principal, create_pairing_code
from server.db.models import Classroom, ClassroomKind, Lesson, OrgUnit, UnitLevel, lesson_receiver
from server.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from server.policy import classroom_path, require_admin_over, visible_classrooms

router = APIRouter(prefix="/api/classrooms", tags=["classrooms"])

DUPLICATE = "a classroom with this name already exists in the school"


async def get_visible_classroom(
    session: AsyncSession, p: Principal, classroom_id: int
) -> Classroom:
    classroom = await session.get(Classroom, classroom_id)
    if classroom is None:
        raise NotFound("classroom not found", {"classroom_id": classroom_id})
    visible = await session.scalar(
        sa.select(Classroom.id).where(Classroom.id == classroom_id, visible_classrooms(p))
    )
    if visible is None:
        raise PermissionDenied("classroom is outside your scope", {"classroom_id": classroom_id})
    return classroom


async def _require_admin_of(session: AsyncSession, p: Principal, classroom: Classroom) -> None:
    require_admin_over(p, await classroom_path(session, classroom.id), "classroom")


@router.get("", response_model=Page[ClassroomPublic])
async def list_classrooms(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    school_id: int | None = None,
    kind: ClassroomKind | None = None,
) -> Page[ClassroomPublic]:
    query = (
        sa.select(Classroom)
        .where(visible_classrooms(p))
        .order_by(Classroom.school_id, Classroom.id)
    )
    if school_id is not None:
        query = query.where(Classroom.school_id == school_id)
    if kind is not None:
        query = query.where(Classroom.kind == kind)
    return await paginate(session, query, paging, ClassroomPublic)


@router.get("/{classroom_id}", response_model=ClassroomPublic)
async def get_classroom(classroom_id: int, session: SessionDep, p: CurrentPrincipal) -> Classroom:
    return await get_visible_classroom(session, p, classroom_id)


@router.post("", response_model=ClassroomPublic, status_code=status.HTTP_201_CREATED)
async def create_classroom(
    body: ClassroomCreate, session: SessionDep, p: CurrentPrincipal
) -> Classroom:
    school = await session.get(OrgUnit, body.school_id)
    if school is None:
        raise NotFound("school not found", {"school_id": body.school_id})
    require_admin_over(p, school.path, "school")
    if school.level is not UnitLevel.SCHOOL:
        raise ValidationFailed("classrooms belong to schools", {"school_id": body.school_id})
    dup = {"school_id": body.school_id, "name": body.name}
    await ensure_absent(
        session,
        sa.select(Classroom.id).where(
            Classroom.school_id == body.school_id, Classroom.name == body.name
        ),
        DUPLICATE,
        dup,
    )
    classroom = Classroom(**body.model_dump())
    session.add(classroom)
    await flush_unique(session, DUPLICATE, dup)
    audit(session, p, "classroom.created", f"classroom:{classroom.id}", {"name": body.name})
    return classroom


@router.patch("/{classroom_id}", response_model=ClassroomPublic)
async def update_classroom(
    classroom_id: int, body: ClassroomUpdate, session: SessionDep, p: CurrentPrincipal
) -> Classroom:
    classroom = await get_visible_classroom(session, p, classroom_id)
    await _require_admin_of(session, p, classroom)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != classroom.name:
        await ensure_absent(
            session,
            sa.select(Classroom.id).where(
                Classroom.school_id == classroom.school_id, Classroom.name == changes["name"]
            ),
            DUPLICATE,
            {"name": changes["name"]},
        )
    for key, value in changes.items():
        setattr(classroom, key, value)
    await flush_unique(session, DUPLICATE, {"name": classroom.name})
    audit(session, p, "classroom.updated", f"classroom:{classroom.id}", changes)
    return classroom


@router.delete("/{classroom_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_classroom(classroom_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    classroom = await get_visible_classroom(session, p, classroom_id)
    await _require_admin_of(session, p, classroom)
    lessons = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Lesson)
        .where(
            sa.or_(
                Lesson.main_classroom_id == classroom_id,
                Lesson.id.in_(
                    sa.select(lesson_receiver.c.lesson_id).where(
                        lesson_receiver.c.classroom_id == classroom_id
                    )
                ),
            )
        )
    )
    if lessons:
        raise Conflict(
            "the classroom still has lessons", {"classroom_id": classroom_id, "lessons": lessons}
        )
    await session.delete(classroom)
    audit(session, p, "classroom.deleted", f"classroom:{classroom_id}", {"name": classroom.name})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{classroom_id}/pairing-code",
    response_model=PairingCodePublic,
    status_code=status.HTTP_201_CREATED,
    tags=["devices"],
)
async def new_pairing_code(
    classroom_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> PairingCodePublic:
    """A 6-digit code to type on the classroom device; single use, expires soon."""
    classroom = await get_visible_classroom(session, p, classroom_id)
    await _require_admin_of(session, p, classroom)
    code, expires = await create_pairing_code(session, settings, classroom, p.user_id)
    audit(session, p, "classroom.pairing_code", f"classroom:{classroom_id}")
    return PairingCodePublic(classroom_id=classroom_id, code=code, expires_at=expires)


@router.delete("/{classroom_id}/device", status_code=status.HTTP_204_NO_CONTENT, tags=["devices"])
async def unpair(classroom_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    """Revoke the classroom's device token (a lost or replaced device)."""
    classroom = await get_visible_classroom(session, p, classroom_id)
    await _require_admin_of(session, p, classroom)
    classroom.device_token_version += 1
    classroom.device_paired_at = None
    audit(session, p, "classroom.unpaired", f"classroom:{classroom_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
