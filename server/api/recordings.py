"""Recordings: list and metadata (the recorder process writes them)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from server.api.common import paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import Page, RecordingDetail, RecordingPublic
from server.db.models import Lesson, Recording, RecordingState
from server.errors import NotFound
from server.policy import get_visible_lesson, visible_lessons

router = APIRouter(prefix="/api/recordings", tags=["recordings"])


@router.get("", response_model=Page[RecordingPublic])
async def list_recordings(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    lesson_id: int | None = None,
    state: RecordingState | None = None,
) -> Page[RecordingPublic]:
    query = (
        sa.select(Recording)
        .where(Recording.lesson_id.in_(sa.select(Lesson.id).where(visible_lessons(p))))
        .order_by(Recording.id.desc())
    )
    if lesson_id is not None:
        query = query.where(Recording.lesson_id == lesson_id)
    if state is not None:
        query = query.where(Recording.state == state)
    return await paginate(session, query, paging, RecordingPublic)


@router.get("/{recording_id}", response_model=RecordingDetail)
async def get_recording(recording_id: int, session: SessionDep, p: CurrentPrincipal) -> Recording:
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("recording not found", {"recording_id": recording_id})
    await get_visible_lesson(session, p, recording.lesson_id)
    return recording
