"""The recording manifest, the lesson event log and post-processing step markers.

Layout of one recording directory (BigBlueButton's "record raw, render later"):

    <recording_id>/
        manifest.json        tracks, segments, clock mappings (atomic tmp+rename)
        events.jsonl         lesson events, one JSON object per line (O_APPEND)
        tracks/<track>.<n>.webm|mkv   raw encoded media, never transcoded
        status/<step>.done|.fail      outcome of each post-processing step

The manifest is rewritten whole on every change through a temporary file and
`os.replace`, so a reader (or a recorder restarted after SIGKILL) sees either
the old or the new version, never half of one. The event log is append-only:
each event is one `write()` of one line on an O_APPEND descriptor; a crash can
at worst leave a truncated last line, which the reader skips.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

MANIFEST_VERSION = 1


class ClockSource(StrEnum):
    RTCP_SR = "rtcp_sr"
    ARRIVAL = "arrival"


class ClockMapping(BaseModel):
    """lesson_ms(rtp) = lesson_ms + (rtp - self.rtp) / clock_rate * 1000 * (1 - skew_ppm/1e6).

    `rtp` is an *extended* (unwrapped) RTP timestamp of this track.
    """

    source: ClockSource
    clock_rate: int
    rtp: int
    lesson_ms: float
    skew_ppm: float = 0.0
    sender_reports: int = 0

    def to_lesson_ms(self, ext_rtp: int) -> float:
        rate = 1.0 - self.skew_ppm / 1e6
        return self.lesson_ms + (ext_rtp - self.rtp) * 1000.0 / self.clock_rate * rate


class Gap(BaseModel):
    """A stretch of lesson time in which the track received nothing (loss, pause, restart)."""

    start_ms: float
    end_ms: float


class LayerSwitch(BaseModel):
    """The recorder's consumer moved to another simulcast layer at this lesson time."""

    at_ms: float
    layer: str


class Segment(BaseModel):
    """One playable file of a track. A new segment starts on restart or resolution change."""

    index: int
    file: str  # relative to the recording directory
    first_rtp: int  # extended RTP timestamp of the file's pts 0
    start_offset_ms: float  # lesson time of the file's pts 0
    duration_ms: float = 0.0
    frames: int = 0
    bytes: int = 0
    width: int | None = None
    height: int | None = None
    clock: ClockMapping
    closed: bool = False
    reason: Literal["start", "restart", "resolution_change", "timestamp_jump",
                    "rollover"] = "start"


class Track(BaseModel):
    id: str
    classroom: str | None = None
    participant: str
    kind: Literal["audio", "video"]
    source: str = "camera"
    codec: str  # mime type, e.g. "video/VP8"
    layer: str | None = None
    segments: list[Segment] = Field(default_factory=list)
    gaps: list[Gap] = Field(default_factory=list)
    layer_switches: list[LayerSwitch] = Field(default_factory=list)


class Manifest(BaseModel):
    version: int = MANIFEST_VERSION
    recording_id: str
    room: str
    lesson_start_utc: datetime
    state: Literal["recording", "stopped", "failed"] = "recording"
    main_participant: str | None = None
    updated_utc: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tracks: list[Track] = Field(default_factory=list)

    def track(self, track_id: str) -> Track | None:
        return next((t for t in self.tracks if t.id == track_id), None)

    def duration_ms(self) -> float:
        ends = [s.start_offset_ms + s.duration_ms for t in self.tracks for s in t.segments]
        return max(ends, default=0.0)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    # fsync the directory so the rename itself survives a power cut.
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class ManifestStore:
    """Loads and atomically saves `manifest.json` of one recording directory."""

    FILENAME = "manifest.json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / self.FILENAME

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Manifest:
        return Manifest.model_validate_json(self.path.read_bytes())

    def save(self, manifest: Manifest) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest.updated_utc = datetime.now(UTC)
        atomic_write_bytes(self.path, manifest.model_dump_json(indent=2).encode())


class LessonEvent(BaseModel):
    """One lesson event: floor change, slide, quiz, comment, recorder start/stop...

    `offset_ms` is monotonic lesson time (never jumps); `utc` is for humans and
    for correlating with other logs (BigBlueButton's timestamp + timestampUTC).
    """

    offset_ms: float
    utc: datetime
    type: str
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventLog:
    """Append-only JSON Lines log of `LessonEvent`s."""

    FILENAME = "events.jsonl"

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILENAME

    def append(self, event: LessonEvent) -> None:
        line = event.model_dump_json().replace("\n", " ") + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write() on O_APPEND: the line lands whole at the end, even with
            # another writer (a restarted recorder) appending concurrently.
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[LessonEvent]:
        """All complete events ordered by offset (late events are re-ordered, as BBB does)."""
        if not self.path.exists():
            return []
        events: list[LessonEvent] = []
        for raw in self.path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                events.append(LessonEvent.model_validate_json(raw))
            except ValueError:
                continue  # a line torn by a crash mid-write
        return sorted(events, key=lambda e: e.offset_ms)


StepOutcome = Literal["done", "fail"]


class StepMarkers:
    """BigBlueButton-style marker files: `status/<step>.done` or `status/<step>.fail`.

    A step's outcome is visible with `ls`, survives restarts, and a rerun
    clears the old marker first so a step is resumable.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "status"

    def _path(self, step: str, outcome: StepOutcome) -> Path:
        if not step or "/" in step or step.startswith("."):
            raise ValueError(f"invalid step name {step!r}")
        return self.directory / f"{step}.{outcome}"

    def status(self, step: str) -> StepOutcome | None:
        outcomes: tuple[StepOutcome, ...] = ("done", "fail")
        for outcome in outcomes:
            if self._path(step, outcome).exists():
                return outcome
        return None

    def clear(self, step: str) -> None:
        outcomes: tuple[StepOutcome, ...] = ("done", "fail")
        for outcome in outcomes:
            self._path(step, outcome).unlink(missing_ok=True)

    def mark(self, step: str, outcome: StepOutcome, detail: dict[str, Any] | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clear(step)
        body = {"step": step, "outcome": outcome, "utc": datetime.now(UTC).isoformat(),
                **(detail or {})}
        atomic_write_bytes(self._path(step, outcome), json.dumps(body).encode())

    @contextmanager
    def run(self, step: str) -> Iterator[None]:
        """Run a step: clear its marker, then leave `.done`, or `.fail` with the error."""
        self.clear(step)
        try:
            yield
        except BaseException as exc:
            self.mark(step, "fail", {"error": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc(limit=5)})
            raise
        self.mark(step, "done")
