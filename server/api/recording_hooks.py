"""The two calls server/api/lessons.py makes: a lesson went live, a lesson ended.

Kept apart so the lesson routes stay about lessons: one line each there.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.recording_state import create_for_lesson
from server.db.models import Lesson, utcnow
from server.settings import Settings


async def lesson_went_live(request: Request, session: AsyncSession, lesson: Lesson) -> None:
    """auto_record: a recording row, and its recorder process started by the supervisor.

    Nothing here can fail the start of a lesson: without a supervisor (an app
    served without its lifespan) or with auto_record off, the lesson simply goes
    live unrecorded.
    """
    settings: Settings = request.app.state.settings
    supervisor = getattr(request.app.state, "recorder_supervisor", None)
    if not settings.auto_record or supervisor is None:
        return
    from server.api.lessons import ws_url

    rec = await create_for_lesson(session, lesson)
    api_url = settings.public_url or str(request.base_url)
    supervisor.start(lesson.id, rec.id, rec.storage_key, lesson.actual_start or utcnow(),
                     ws_url(settings, request), api_url)


async def lesson_ended(request: Request, lesson: Lesson) -> None:
    supervisor = getattr(request.app.state, "recorder_supervisor", None)
    if supervisor is not None:
        await supervisor.stop(lesson.id)
