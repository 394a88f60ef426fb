"""Attendance: which classrooms took part in a lesson and how many pupils were present."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from server.api.deps import CurrentPrincipal, SessionDep
from server.api.schemas import AttendancePublic, AttendanceReport
from server.db.models import Participation, utcnow
from server.policy import get_visible_lesson, require_lesson_classroom

router = APIRouter(prefix="/api/lessons/{lesson_id}/attendance", tags=["attendance"])


@router.get("", response_model=list[AttendancePublic])
async def list_attendance(
    lesson_id: int, session: SessionDep, p: CurrentPrincipal
) -> list[Participation]:
    await get_visible_lesson(session, p, lesson_id)
    rows = await session.scalars(
        sa.select(Participation)
        .where(Participation.lesson_id == lesson_id)
        .order_by(Participation.classroom_id)
    )
    return list(rows.all())


@router.post("", response_model=AttendancePublic)
async def report_attendance(
    lesson_id: int, body: AttendanceReport, session: SessionDep, p: CurrentPrincipal
) -> Participation:
    """A classroom of the lesson reports its own head count (may repeat; last one wins)."""
    lesson = await get_visible_lesson(session, p, lesson_id)
    classroom_id = require_lesson_classroom(p, lesson)
    row = await session.scalar(
        sa.select(Participation).where(
            Participation.lesson_id == lesson_id, Participation.classroom_id == classroom_id
        )
    )
    if row is None:
        row = Participation(lesson_id=lesson_id, classroom_id=classroom_id)
        session.add(row)
    row.pupils_present = body.pupils_present
    row.updated_at = utcnow()
    await session.flush()
    return row
