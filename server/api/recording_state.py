"""The recording row's life: created when a lesson goes live, moved by the recorder's reports.

States: recording → processing (the recorder stopped, files closing/uploading)
→ uploaded (in object storage) → ready (playable); any unfinished state →
failed. A recorder restarted by the supervisor resumes a failed or recording
row back to `recording`. `ready` is final: only deletion changes it.

The recorder process is not trusted with the database: it reports over REST
(`POST /api/recordings/{id}/report`) with its room token, and this module
applies the report (see server/api/recordings.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.recording_retention import quota_excess
from server.db.models import Lesson, Recording, RecordingState, utcnow
from server.errors import InvalidState
from server.settings import Settings
from server.webhooks.outbox import recording_ready as webhook_recording_ready

log = structlog.get_logger(__name__)

FINAL = {RecordingState.READY}
_NEXT: dict[RecordingState, set[RecordingState]] = {
    RecordingState.PENDING: {RecordingState.RECORDING, RecordingState.FAILED},
    RecordingState.RECORDING: {
        RecordingState.RECORDING,
        RecordingState.PROCESSING,
        RecordingState.UPLOADED,
        RecordingState.READY,
        RecordingState.FAILED,
    },
    RecordingState.PROCESSING: {
        RecordingState.PROCESSING,
        RecordingState.UPLOADED,
        RecordingState.READY,
        RecordingState.FAILED,
        RecordingState.RECORDING,
    },
    RecordingState.UPLOADED: {RecordingState.READY, RecordingState.FAILED},
    RecordingState.FAILED: {RecordingState.RECORDING, RecordingState.FAILED},
    RecordingState.READY: set(),
}


def recording_key(lesson: Lesson, at: datetime) -> str:
    """Directory / storage prefix of a lesson's recording (also the recorder's recording id)."""
    return f"lesson-{lesson.id}-{at.strftime('%Y%m%dT%H%M%SZ')}"


def summarize(manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """Tracks (one line each), duration and bytes from a recorder manifest."""
    tracks: list[dict[str, Any]] = []
    end_ms = 0.0
    size = 0
    for t in manifest.get("tracks", []):
        segs = t.get("segments", [])
        t_bytes = sum(int(s.get("bytes", 0)) for s in segs)
        t_end = max((s["start_offset_ms"] + s.get("duration_ms", 0.0) for s in segs), default=0.0)
        t_start = min((s["start_offset_ms"] for s in segs), default=0.0)
        size += t_bytes
        end_ms = max(end_ms, t_end)
        tracks.append(
            {
                "id": t.get("id"),
                "participant": t.get("participant"),
                "classroom": t.get("classroom"),
                "kind": t.get("kind"),
                "codec": t.get("codec"),
                "segments": len(segs),
                "start_ms": round(t_start, 1),
                "end_ms": round(t_end, 1),
                "bytes": t_bytes,
            }
        )
    return tracks, int(end_ms), size


async def create_for_lesson(session: AsyncSession, lesson: Lesson) -> Recording:
    start = lesson.actual_start or utcnow()
    rec = Recording(
        lesson_id=lesson.id,
        state=RecordingState.RECORDING,
        storage_key=recording_key(lesson, start),
        started_at=start,
    )
    session.add(rec)
    await session.flush()
    return rec


async def apply_report(
    session: AsyncSession,
    settings: Settings,
    rec: Recording,
    state: RecordingState,
    manifest: dict[str, Any] | None,
    error: str | None = None,
    size_bytes: int | None = None,
) -> Recording:
    """Move the row to `state` with the recorder's numbers; InvalidState for a bad move."""
    if state not in _NEXT[rec.state]:
        raise InvalidState(
            f"a {rec.state.value} recording cannot become {state.value}",
            {"recording_id": rec.id, "state": rec.state.value, "requested": state.value},
        )
    if manifest is not None:
        tracks, duration, size = summarize(manifest)
        rec.manifest = manifest
        rec.tracks = tracks
        rec.duration_ms = duration
        rec.size_bytes = size
    if size_bytes is not None:
        rec.size_bytes = size_bytes  # files on disk: manifest bytes are media payload only
    if state is RecordingState.READY and not rec.tracks:
        state, error = RecordingState.FAILED, error or "nothing was recorded (no tracks)"
    rec.state = state
    rec.error = error if state is RecordingState.FAILED else None
    if state in (RecordingState.READY, RecordingState.FAILED):
        rec.ended_at = rec.ended_at or utcnow()
    if state is RecordingState.READY:
        await session.flush()
        excess = await quota_excess(session, settings, rec)
        if excess:
            # The lesson is over and the files are safe: flag, never drop them here.
            rec.over_quota = True
            rec.error = "storage quota of {unit} exceeded by {over} bytes".format(**excess)
            log.warning("recording over quota", recording_id=rec.id, **excess)
        await webhook_recording_ready(session, rec)
    await session.flush()
    return rec


async def live_recording_of(session: AsyncSession, lesson_id: int) -> Recording | None:
    return await session.scalar(
        sa.select(Recording)
        .where(
            Recording.lesson_id == lesson_id,
            Recording.state.in_([RecordingState.RECORDING, RecordingState.PENDING]),
        )
        .order_by(Recording.id.desc())
        .limit(1)
    )
