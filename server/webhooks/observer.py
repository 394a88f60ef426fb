"""Signaling's room events → webhook emits and quality samples.

Registered on the hub (`app.state.hub.observe`) by the webhooks lifespan piece.
Runs in the hub's event dispatcher, never inside a room: a slow database delays
the webhook, not the lesson. Hidden participants (evaluators, patrol, recorder)
are not announced to receivers: patrol is unseen by design.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog

from server.db.engine import Database
from server.db.models import Lesson
from server.db.models_supervision import QualitySample
from server.stats.quality import QualityTracker
from server.webhooks.outbox import emit_for_lesson
from server.webhooks.worker import WebhookWorker

log = structlog.get_logger("tongbu.webhooks")
_FORWARDED = {"participant.joined", "participant.left"}


class RoomEventsToWebhooks:
    def __init__(
        self,
        db: Database,
        worker: WebhookWorker | None = None,
        quality: QualityTracker | None = None,
    ) -> None:
        self.db = db
        self.worker = worker
        self.quality = quality
        self._broken = False

    async def __call__(self, event: Any) -> None:
        lesson_id = event.lesson_id
        if lesson_id is None or event.name not in _FORWARDED or self._broken:
            return
        log.info(
            "room event",
            room_event=event.name,
            lesson_id=lesson_id,
            participant_id=event.participant_id,
            identity=event.identity,
            role=event.role,
            reason=(event.data or {}).get("reason"),
        )
        try:
            await self._handle(event, lesson_id)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            # An unmigrated database (a bare test app): say so once, then stay quiet.
            self._broken = True
            log.warning("webhook observer disabled", error=type(exc).__name__)

    async def _handle(self, event: Any, lesson_id: int) -> None:
        data = dict(event.data or {})
        async with self.db.session() as session:
            lesson = await session.get(Lesson, lesson_id)
            if lesson is None:
                return
            quality = data.pop("quality", None)
            if event.name == "participant.left" and quality is None and self.quality:
                quality = self.quality.pop(event.room, event.participant_id or "")
            if event.name == "participant.left" and isinstance(quality, dict):
                # A summary of the stay, if signaling measured one (see docs/supervision.md).
                session.add(
                    QualitySample(
                        lesson_id=lesson_id,
                        classroom_id=data.get("classroom_id"),
                        identity=event.identity or "",
                        loss=float(quality.get("loss", 0.0)),
                        rtt_ms=float(quality.get("rtt_ms", 0.0)),
                        low_layer_share=float(quality.get("low_layer_share", 0.0)),
                        seconds=float(quality.get("seconds", 0.0)),
                    )
                )
            if data.get("hidden"):
                return
            queued = await emit_for_lesson(
                session,
                event.name,
                lesson,
                {
                    "participant_id": event.participant_id,
                    "identity": event.identity,
                    "role": event.role,
                    "classroom_id": data.get("classroom_id"),
                    "reason": data.get("reason"),
                },
                at=event.at,
            )
        if queued and self.worker is not None:
            self.worker.poke()
