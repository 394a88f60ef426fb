"""The lesson event log (read only over REST; signaling and the recorder append)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from server.api.common import paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import EventPublic, Page
from server.db.models import LessonEvent
from server.policy import get_visible_lesson

router = APIRouter(prefix="/api/lessons/{lesson_id}/events", tags=["events"])


@router.get("", response_model=Page[EventPublic])
async def list_events(
    lesson_id: int,
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    type: Annotated[str | None, Query(max_length=60, description="only this event type")] = None,
    after_ms: Annotated[int | None, Query(description="only events after this offset")] = None,
) -> Page[EventPublic]:
    await get_visible_lesson(session, p, lesson_id)
    query = (
        sa.select(LessonEvent)
        .where(LessonEvent.lesson_id == lesson_id)
        .order_by(LessonEvent.offset_ms, LessonEvent.id)
    )
    if type is not None:
        query = query.where(LessonEvent.type == type)
    if after_ms is not None:
        query = query.where(LessonEvent.offset_ms > after_ms)
    return await paginate(session, query, paging, EventPublic)
