"""One recording on disk: manifest, event log, and a writer per track.

This is the part of the recorder that knows nothing about the network: the
session (recorder/session.py) feeds it frames and sender reports from the
room, the tests feed it synthetic ones. Restarting the recorder on an
existing directory resumes the same recording: tracks are matched by id and
continue in a new segment, the manifest stays one consistent document.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from recorder.manifest import EventLog, LessonEvent, Manifest, ManifestStore, Segment, Track
from recorder.timeline import LessonClock, TrackTimeline
from recorder.writer import EncodedFrame, TrackWriter

CLOCK_RATES = {"vp8": 90000, "h264": 90000, "opus": 48000}


class Recording:
    """Owns the files of one recording; thread-safe (writers run on a worker thread)."""

    def __init__(
        self,
        directory: Path,
        *,
        recording_id: str,
        room: str,
        lesson_start_unix: float | None = None,
        cluster_ms: int = 1000,
        segment_max_s: float | None = None,
        on_segment_closed: Callable[[Segment], None] | None = None,
    ) -> None:
        self.directory = directory
        self.segment_max_s = segment_max_s
        self.on_segment_closed = on_segment_closed
        self.store = ManifestStore(directory)
        self.events = EventLog(directory)
        self.cluster_ms = cluster_ms
        self._lock = threading.RLock()
        existing = self.store.load() if self.store.exists() else None
        self.resumed = existing is not None
        if existing is not None:
            # Same lesson zero as the first run, so new segments line up with old ones.
            lesson_start_unix = existing.lesson_start_utc.timestamp()
        self.clock = LessonClock(lesson_start_unix)
        self.manifest = existing or Manifest(recording_id=recording_id, room=room,
                                             lesson_start_utc=self.clock.start_utc)
        if existing is not None:
            # The previous run ended (cleanly or not): none of its files will grow again.
            for track in self.manifest.tracks:
                for seg in track.segments:
                    seg.closed = True
        self.manifest.state = "recording"
        self.writers: dict[str, TrackWriter] = {}
        self.save()
        self.log_event("recorder_resumed" if self.resumed else "recorder_started")

    def save(self) -> None:
        with self._lock:
            self.store.save(self.manifest)

    def log_event(self, type_: str, actor: str | None = None, *,
                  at: tuple[float, datetime] | None = None, **data: Any) -> LessonEvent:
        """Append an event; `at` = (offset_ms, utc) taken when it happened, default now."""
        offset, utc = at if at is not None else (self.clock.now_ms(), datetime.now(UTC))
        event = LessonEvent(offset_ms=round(offset, 1), utc=utc, type=type_, actor=actor,
                            data=data)
        self.events.append(event)
        return event

    def add_track(
        self,
        track_id: str,
        *,
        participant: str,
        kind: Literal["audio", "video"],
        codec: str,
        classroom: str | None = None,
        source: str = "camera",
        layer: str | None = None,
        main: bool = False,
    ) -> TrackWriter:
        """A writer for a (new or resumed) track."""
        with self._lock:
            if track_id in self.writers and not self.writers[track_id].closed:
                return self.writers[track_id]
            name = codec.lower().split("/")[-1]
            if name not in CLOCK_RATES:
                from server.errors import Unsupported

                raise Unsupported(f"cannot record codec {codec}")
            track = self.manifest.track(track_id)
            if track is None:
                track = Track(id=track_id, participant=participant, classroom=classroom,
                              kind=kind, codec=codec, source=source, layer=layer)
                self.manifest.tracks.append(track)
            if main:
                self.manifest.main_participant = participant
            rate = CLOCK_RATES[name]
            writer = TrackWriter(self.directory, track, TrackTimeline(self.clock, rate),
                                 self.save, cluster_ms=self.cluster_ms,
                                 segment_max_s=self.segment_max_s,
                                 on_segment_closed=self.on_segment_closed)
            self.writers[track_id] = writer
            self.save()
            return writer

    def write(self, track_id: str, frame: EncodedFrame) -> bool:
        with self._lock:
            return self.writers[track_id].write(frame)

    def sender_report(self, track_id: str, ntp: int | float, rtp_ts: int) -> None:
        with self._lock:
            self.writers[track_id].on_sender_report(ntp, rtp_ts)

    def note_layer_switch(self, track_id: str, layer: str) -> None:
        """The recorder's consumer of this track now forwards `layer` (from here on)."""
        with self._lock:
            writer = self.writers.get(track_id)
            if writer is not None and writer.track.layer != layer:
                writer.note_layer_switch(layer, self.clock.now_ms())

    def snapshot(self) -> dict[str, Any]:
        """The manifest as JSON data, consistent (taken under the lock)."""
        with self._lock:
            return self.manifest.model_dump(mode="json")

    def close_track(self, track_id: str) -> None:
        with self._lock:
            writer = self.writers.get(track_id)
            if writer is not None:
                writer.close()

    def close(self, state: Literal["stopped", "failed"] = "stopped") -> None:
        with self._lock:
            for writer in self.writers.values():
                writer.close()
            self.manifest.state = state
            self.save()
            self.log_event("recorder_stopped", state=state)
