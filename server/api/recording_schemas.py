"""Wire models of the recording API (issue 7): reports, playback, timeline, policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from server.api.schemas import Input, Public
from server.db.models import RecordingState


class RecordingOut(Public):
    id: int
    lesson_id: int
    lesson_title: str = ""
    state: RecordingState
    storage_key: str
    tracks: list[Any]
    size_bytes: int
    duration_ms: int
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    error: str | None = None
    over_quota: bool = False
    restarts: int = 0


class RecordingDetailOut(RecordingOut):
    manifest: dict[str, Any]


class RecorderReport(Input):
    """What the recorder process sends (authenticated by its RECORDER room token)."""

    state: RecordingState
    manifest: dict[str, Any] | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=2000)


class MediaFile(BaseModel):
    track_id: str
    segment: int
    url: str
    start_ms: float
    duration_ms: float
    closed: bool


class PlaybackTrack(BaseModel):
    id: str
    participant: str
    classroom: str | None
    kind: str
    codec: str
    main: bool
    segments: list[MediaFile]


class Playback(BaseModel):
    """Everything the player needs; media URLs carry a short-lived token (for <video src>)."""

    recording: RecordingOut
    lesson_start_utc: datetime | None
    duration_ms: float
    tracks: list[PlaybackTrack]
    can_comment: bool
    can_delete: bool
    expires_in: int


class TimelineItem(BaseModel):
    offset_ms: int
    type: str
    kind: str  # floor | slide | quiz | comment | lesson | recorder | other
    actor: str = ""
    text: str = ""
    source: str  # lesson (event log), recorder (events.jsonl), evaluation
    data: dict[str, Any] = Field(default_factory=dict)


class CommentIn(Input):
    offset_ms: int = Field(ge=0, le=24 * 3600 * 1000)
    text: str = Field(min_length=1, max_length=2000)
    classroom_id: int | None = None


class PolicyIn(Input):
    """Own values of a unit; null inherits from the parent unit."""

    quota_bytes: int | None = Field(default=None, ge=0)
    retention_days: int | None = Field(default=None, ge=1, le=36500)


class PolicyOut(BaseModel):
    org_unit_id: int
    quota_bytes: int | None
    retention_days: int | None
    effective_retention_days: int | None
    retention_from: int | None
    quotas_on_path: dict[int, int]
    usage_bytes: int
