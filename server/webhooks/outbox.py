"""Emit an event: one `WebhookDelivery` row per endpoint that wants it, in the caller's
transaction. Which endpoints: active ones whose org unit contains the lesson's main
classroom or one of its receiving classrooms (a county hears about its teaching
points' lessons even when the main classroom is elsewhere).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Classroom, Lesson, OrgUnit, lesson_receiver, utcnow
from server.db.models_supervision import WebhookDelivery, WebhookEndpoint

log = structlog.get_logger("tongbu.webhooks")

EVENTS = (
    "lesson.started",
    "lesson.ended",
    "participant.joined",
    "participant.left",
    "recording.ready",
)


async def lesson_paths(session: AsyncSession, lesson_id: int) -> list[str]:
    """Org paths of the lesson's classrooms (main first)."""
    main = sa.select(Lesson.main_classroom_id).where(Lesson.id == lesson_id)
    recv = sa.select(lesson_receiver.c.classroom_id).where(lesson_receiver.c.lesson_id == lesson_id)
    rows = await session.scalars(
        sa.select(OrgUnit.path)
        .join(Classroom, Classroom.school_id == OrgUnit.id)
        .where(sa.or_(Classroom.id.in_(main), Classroom.id.in_(recv)))
        .distinct()
    )
    return list(rows)


async def emit(
    session: AsyncSession,
    event: str,
    paths: list[str],
    data: dict[str, Any],
    *,
    at: datetime | None = None,
) -> int:
    """Queue `event` for every active endpoint whose unit contains one of `paths`."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    if not paths:
        return 0
    endpoints = (
        await session.execute(
            sa.select(WebhookEndpoint.id, WebhookEndpoint.events, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == WebhookEndpoint.org_unit_id)
            .where(WebhookEndpoint.is_active.is_(True))
        )
    ).all()
    wanted = [
        e.id
        for e in endpoints
        if (not e.events or event in e.events) and any(p.startswith(e.path) for p in paths)
    ]
    if not wanted:
        return 0
    now = utcnow()
    body = {"id": str(uuid.uuid4()), "event": event, "at": (at or now).isoformat(), "data": data}
    session.add_all(
        WebhookDelivery(endpoint_id=eid, event=event, payload=body, next_attempt_at=now)
        for eid in wanted
    )
    await session.flush()
    log.info("webhook queued", webhook_event=event, endpoints=len(wanted), **_ids(data))
    return len(wanted)


def _ids(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("lesson_id", "participant_id") if k in data}


async def emit_for_lesson(
    session: AsyncSession,
    event: str,
    lesson: Lesson,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> int:
    payload = {
        "lesson_id": lesson.id,
        "title": lesson.title,
        "state": lesson.state.value,
        "starts_at": lesson.starts_at.isoformat(),
        "actual_start": lesson.actual_start.isoformat() if lesson.actual_start else None,
        "actual_end": lesson.actual_end.isoformat() if lesson.actual_end else None,
        **(data or {}),
    }
    return await emit(session, event, await lesson_paths(session, lesson.id), payload, at=at)


async def lesson_state_event(app: Any, session: AsyncSession, event: str, lesson: Lesson) -> None:
    """From the REST start/end handlers: queue the event and wake the worker."""
    if await emit_for_lesson(session, event, lesson):
        worker = getattr(app.state, "webhooks", None)
        if worker is not None:
            worker.poke()


async def recording_ready(session: AsyncSession, recording: Any) -> None:
    """From the recording state machine: the recording just became playable."""
    lesson = await session.get(Lesson, recording.lesson_id)
    if lesson is None:
        return
    await emit_for_lesson(
        session,
        "recording.ready",
        lesson,
        {
            "recording_id": recording.id,
            "duration_ms": getattr(recording, "duration_ms", None),
            "size_bytes": recording.size_bytes,
        },
    )


def ping(endpoint_id: int, actor: str) -> WebhookDelivery:
    """A `webhook.ping` for one endpoint only: an operator checks URL, secret and firewall."""
    now = utcnow()
    body = {
        "id": str(uuid.uuid4()),
        "event": "webhook.ping",
        "at": now.isoformat(),
        "data": {"endpoint_id": endpoint_id, "requested_by": actor},
    }
    return WebhookDelivery(
        endpoint_id=endpoint_id, event="webhook.ping", payload=body, next_attempt_at=now
    )
