"""Org units (province → city → county → township → school) and schools.

A school is an org unit of level `school`; `/api/schools` is a convenience view
on the same rows. Admins create and edit units strictly under their own.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique, paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import (
    OrgUnitCreate,
    OrgUnitPublic,
    OrgUnitTree,
    OrgUnitUpdate,
    Page,
    SchoolCreate,
)
from server.auth import Principal
from server.db.models import Classroom, Course, Lesson, OrgUnit, UnitLevel, User, lesson_receiver
from server.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from server.policy import require_admin_over, require_strictly_below, visible_units

router = APIRouter(prefix="/api/org-units", tags=["org units"])
schools = APIRouter(prefix="/api/schools", tags=["schools"])


async def get_visible_unit(session: AsyncSession, p: Principal, unit_id: int) -> OrgUnit:
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    if not unit.path.startswith(p.org_path):
        raise PermissionDenied("org unit is outside your scope", {"org_unit_id": unit_id})
    return unit


async def create_unit(
    session: AsyncSession,
    p: Principal,
    *,
    name: str,
    level: UnitLevel,
    parent_id: int,
    code: str | None,
) -> OrgUnit:
    parent = await session.get(OrgUnit, parent_id)
    if parent is None:
        raise NotFound("parent org unit not found", {"parent_id": parent_id})
    require_admin_over(p, parent.path)
    if level.rank <= parent.level.rank:
        raise ValidationFailed(
            f"a {level.value} cannot sit under a {parent.level.value}",
            {"level": level.value, "parent_level": parent.level.value},
        )
    dup = {"name": name, "parent_id": parent_id}
    await ensure_absent(
        session,
        sa.select(OrgUnit.id).where(OrgUnit.parent_id == parent_id, OrgUnit.name == name),
        "a unit with this name already exists here",
        dup,
    )
    unit = OrgUnit(name=name, level=level, parent_id=parent_id, code=code, path="")
    session.add(unit)
    await flush_unique(session, "a unit with this name already exists here", dup)
    unit.path = f"{parent.path}{unit.id}/"
    await session.flush()
    audit(session, p, "org_unit.created", f"org_unit:{unit.id}", {"name": name, "level": level})
    return unit


async def update_unit(
    session: AsyncSession, p: Principal, unit: OrgUnit, body: OrgUnitUpdate
) -> OrgUnit:
    require_strictly_below(p, unit.path)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != unit.name:
        dup = {"name": changes["name"], "parent_id": unit.parent_id}
        await ensure_absent(
            session,
            sa.select(OrgUnit.id).where(
                OrgUnit.parent_id == unit.parent_id, OrgUnit.name == changes["name"]
            ),
            "a unit with this name already exists here",
            dup,
        )
    for key, value in changes.items():
        setattr(unit, key, value)
    await flush_unique(session, "a unit with this name already exists here", {"name": unit.name})
    audit(session, p, "org_unit.updated", f"org_unit:{unit.id}", changes)
    return unit


async def delete_unit(session: AsyncSession, p: Principal, unit: OrgUnit) -> None:
    """Delete an empty unit; a school takes its classrooms and courses along, never lessons."""
    require_strictly_below(p, unit.path)
    unit_id = unit.id
    if await session.scalar(sa.select(OrgUnit.id).where(OrgUnit.parent_id == unit_id).limit(1)):
        raise Conflict("the unit still has sub-units", {"org_unit_id": unit_id})
    classroom_ids = sa.select(Classroom.id).where(Classroom.school_id == unit_id)
    lessons = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Lesson)
        .where(
            sa.or_(
                Lesson.main_classroom_id.in_(classroom_ids),
                Lesson.id.in_(
                    sa.select(lesson_receiver.c.lesson_id).where(
                        lesson_receiver.c.classroom_id.in_(classroom_ids)
                    )
                ),
            )
        )
    )
    if lessons:
        raise Conflict("the school still has lessons", {"org_unit_id": unit_id, "lessons": lessons})
    users = await session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.org_unit_id == unit_id)
    )
    if users:
        raise Conflict("the unit still has users", {"org_unit_id": unit_id, "users": users})
    await session.execute(sa.delete(Course).where(Course.school_id == unit_id))
    await session.execute(sa.delete(Classroom).where(Classroom.school_id == unit_id))
    await session.delete(unit)
    audit(session, p, "org_unit.deleted", f"org_unit:{unit_id}", {"name": unit.name})
    await session.flush()


# --- /api/org-units ------------------------------------------------------------------------


@router.get("", response_model=Page[OrgUnitPublic])
async def list_units(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    level: UnitLevel | None = None,
    parent_id: int | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[OrgUnitPublic]:
    query = sa.select(OrgUnit).where(visible_units(p)).order_by(OrgUnit.path)
    if level is not None:
        query = query.where(OrgUnit.level == level)
    if parent_id is not None:
        query = query.where(OrgUnit.parent_id == parent_id)
    if q:
        query = query.where(OrgUnit.name.contains(q, autoescape=True))
    return await paginate(session, query, paging, OrgUnitPublic)


@router.get("/tree", response_model=OrgUnitTree)
async def unit_tree(session: SessionDep, p: CurrentPrincipal) -> OrgUnitTree:
    """The principal's home unit with everything under it, nested."""
    units = (
        await session.scalars(sa.select(OrgUnit).where(visible_units(p)).order_by(OrgUnit.path))
    ).all()
    nodes = {u.id: OrgUnitTree.model_validate(u) for u in units}
    root = nodes[p.org_unit_id]
    for unit in units:
        if unit.id != p.org_unit_id and unit.parent_id in nodes:
            nodes[unit.parent_id].children.append(nodes[unit.id])
    return root


@router.get("/{unit_id}", response_model=OrgUnitPublic)
async def get_unit(unit_id: int, session: SessionDep, p: CurrentPrincipal) -> OrgUnit:
    return await get_visible_unit(session, p, unit_id)


@router.post("", response_model=OrgUnitPublic, status_code=status.HTTP_201_CREATED)
async def create(body: OrgUnitCreate, session: SessionDep, p: CurrentPrincipal) -> OrgUnit:
    return await create_unit(
        session, p, name=body.name, level=body.level, parent_id=body.parent_id, code=body.code
    )


@router.patch("/{unit_id}", response_model=OrgUnitPublic)
async def update(
    unit_id: int, body: OrgUnitUpdate, session: SessionDep, p: CurrentPrincipal
) -> OrgUnit:
    unit = await get_visible_unit(session, p, unit_id)
    return await update_unit(session, p, unit, body)


@router.delete("/{unit_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(unit_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    unit = await get_visible_unit(session, p, unit_id)
    await delete_unit(session, p, unit)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- /api/schools --------------------------------------------------------------------------


async def _get_school(session: AsyncSession, p: Principal, school_id: int) -> OrgUnit:
    unit = await get_visible_unit(session, p, school_id)
    if unit.level is not UnitLevel.SCHOOL:
        raise NotFound("school not found", {"school_id": school_id})
    return unit


@schools.get("", response_model=Page[OrgUnitPublic])
async def list_schools(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    under: Annotated[int | None, Query(description="only schools under this unit")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[OrgUnitPublic]:
    query = (
        sa.select(OrgUnit)
        .where(visible_units(p), OrgUnit.level == UnitLevel.SCHOOL)
        .order_by(OrgUnit.path)
    )
    if under is not None:
        base = await get_visible_unit(session, p, under)
        query = query.where(OrgUnit.path.startswith(base.path, autoescape=True))
    if q:
        query = query.where(OrgUnit.name.contains(q, autoescape=True))
    return await paginate(session, query, paging, OrgUnitPublic)


@schools.get("/{school_id}", response_model=OrgUnitPublic)
async def get_school(school_id: int, session: SessionDep, p: CurrentPrincipal) -> OrgUnit:
    return await _get_school(session, p, school_id)


@schools.post("", response_model=OrgUnitPublic, status_code=status.HTTP_201_CREATED)
async def create_school(body: SchoolCreate, session: SessionDep, p: CurrentPrincipal) -> OrgUnit:
    return await create_unit(
        session, p, name=body.name, level=UnitLevel.SCHOOL, parent_id=body.parent_id, code=body.code
    )


@schools.patch("/{school_id}", response_model=OrgUnitPublic)
async def update_school(
    school_id: int, body: OrgUnitUpdate, session: SessionDep, p: CurrentPrincipal
) -> OrgUnit:
    return await update_unit(session, p, await _get_school(session, p, school_id), body)


@schools.delete("/{school_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_school(school_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    await delete_unit(session, p, await _get_school(session, p, school_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
