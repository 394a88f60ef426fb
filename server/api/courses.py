"""Courses of a school (what a lesson teaches)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique, paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import CourseCreate, CoursePublic, CourseUpdate, Page
from server.auth import Principal
from server.db.models import Course, OrgUnit, UnitLevel
from server.errors import NotFound, PermissionDenied, ValidationFailed
from server.policy import require_admin_over, unit_path, visible_courses

router = APIRouter(prefix="/api/courses", tags=["courses"])

DUPLICATE = "a course with this name already exists in the school"


async def _get_course(session: AsyncSession, p: Principal, course_id: int) -> tuple[Course, str]:
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound("course not found", {"course_id": course_id})
    path = await unit_path(session, course.school_id)
    if not path.startswith(p.org_path):
        raise PermissionDenied("course is outside your scope", {"course_id": course_id})
    return course, path


@router.get("", response_model=Page[CoursePublic])
async def list_courses(
    session: SessionDep, p: CurrentPrincipal, paging: PagingDep, school_id: int | None = None
) -> Page[CoursePublic]:
    query = sa.select(Course).where(visible_courses(p)).order_by(Course.id)
    if school_id is not None:
        query = query.where(Course.school_id == school_id)
    return await paginate(session, query, paging, CoursePublic)


@router.get("/{course_id}", response_model=CoursePublic)
async def get_course(course_id: int, session: SessionDep, p: CurrentPrincipal) -> Course:
    return (await _get_course(session, p, course_id))[0]


@router.post("", response_model=CoursePublic, status_code=status.HTTP_201_CREATED)
async def create_course(body: CourseCreate, session: SessionDep, p: CurrentPrincipal) -> Course:
    school = await session.get(OrgUnit, body.school_id)
    if school is None:
        raise NotFound("school not found", {"school_id": body.school_id})
    require_admin_over(p, school.path, "school")
    if school.level is not UnitLevel.SCHOOL:
        raise ValidationFailed("courses belong to schools", {"school_id": body.school_id})
    dup = {"school_id": body.school_id, "name": body.name}
    await ensure_absent(
        session,
        sa.select(Course.id).where(Course.school_id == body.school_id, Course.name == body.name),
        DUPLICATE,
        dup,
    )
    course = Course(**body.model_dump())
    session.add(course)
    await flush_unique(session, DUPLICATE, dup)
    audit(session, p, "course.created", f"course:{course.id}", {"name": course.name})
    return course


@router.patch("/{course_id}", response_model=CoursePublic)
async def update_course(
    course_id: int, body: CourseUpdate, session: SessionDep, p: CurrentPrincipal
) -> Course:
    course, path = await _get_course(session, p, course_id)
    require_admin_over(p, path, "course")
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != course.name:
        await ensure_absent(
            session,
            sa.select(Course.id).where(
                Course.school_id == course.school_id, Course.name == changes["name"]
            ),
            DUPLICATE,
            {"name": changes["name"]},
        )
    for key, value in changes.items():
        setattr(course, key, value)
    await flush_unique(session, DUPLICATE, {"name": course.name})
    return course


@router.delete("/{course_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_course(course_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    course, path = await _get_course(session, p, course_id)
    require_admin_over(p, path, "course")
    await session.delete(course)
    audit(session, p, "course.deleted", f"course:{course_id}", {"name": course.name})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
