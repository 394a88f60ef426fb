"""The live part of the recorder: join a room as a hidden RECORDER, write every producer.

`RecorderSession` joins over the same `/ws` signaling and WebRTC path as any
participant, through `clients.python.TongbuClient` with `decode=False`: the
client taps each receiver (media.passthrough.ReceiverTap) and reports encoded
frames, which go straight into `Recording` writers — nothing is decoded. The
server auto-subscribes a hidden participant to every producer as it appears.

Threading: the client's frame callback runs on the event loop; muxing and
file I/O run on one writer thread fed by a bounded queue, so a slow disk can
never stall the peer connections. If the queue is full, frames are dropped
and counted (the lesson itself is never affected: the recorder is only a
subscriber, and the SFU drops for a slow consumer rather than slowing others).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from recorder.recording import Recording
from recorder.reporter import Reporter
from recorder.rtcp import SenderReportTap
from recorder.storage import Storage, Uploader, upload_recording
from recorder.writer import EncodedFrame

log = logging.getLogger(__name__)


class WriterThread:
    """Runs recording work items in order on one thread; `submit` never blocks."""

    def __init__(self, maxsize: int = 5000) -> None:
        self._queue: queue.Queue[Callable[[], Any] | None] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="tongbu-recorder-writer",
                                        daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> bool:
        try:
            self._queue.put_nowait(fn)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:  # one bad frame/track must not stop the others
                self.errors += 1
                log.exception("recorder write failed")

    def close(self, within: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(within)


def _codec_for(kind: str, codec: str) -> str:
    if codec:
        return codec
    return "audio/opus" if kind == "audio" else "video/VP8"


class RecorderSession:
    """One recorder attached to one room until `stop` is set or the room closes."""

    def __init__(
        self,
        url: str,
        token: str,
        recording: Recording,
        *,
        storage: Storage | None = None,
        client_factory: Callable[..., Any] | None = None,
        reporter: Reporter | None = None,
        report_every: float = 10.0,
        layer_poll_every: float = 2.0,
    ) -> None:
        self.url = url
        self.token = token
        self.recording = recording
        self.storage = storage
        self.reporter = reporter
        self.report_every = report_every
        self.layer_poll_every = layer_poll_every
        self._client_factory = client_factory
        # Closed segments go to storage while the lesson goes on (see Recording.segment_max_s).
        self.uploader: Uploader | None = Uploader(storage) if storage is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._layers: dict[str, str] = {}
        self._background: list[asyncio.Task[None]] = []
        self.client: Any = None
        self.writer = WriterThread()
        self.frames: Counter[str] = Counter()
        self._tracks: set[str] = set()
        self._sr_taps: dict[str, SenderReportTap] = {}

    def _event(self, type_: str, actor: str | None = None, **data: Any) -> None:
        """Log a lesson event stamped now, written on the writer thread (fsync off the loop)."""
        at = (self.recording.clock.now_ms(), datetime.now(UTC))
        self.writer.submit(lambda: self.recording.log_event(type_, actor, at=at, **data))

    # -- client events ---------------------------------------------------------------
    def _participant(self, participant_id: str) -> Any:
        return self.client.participants.get(participant_id) if self.client else None

    def _ensure_track(self, producer_id: str) -> bool:
        if producer_id in self._tracks:
            return True
        info = self.client.producers.get(producer_id)
        if info is None:
            return False
        person = self._participant(info.participant_id)
        identity = getattr(person, "identity", None) or info.participant_id
        role = getattr(person, "role", "")
        kind = info.kind
        codec = _codec_for(kind, info.codec)
        rec = self.recording

        def add() -> None:
            rec.add_track(producer_id, participant=identity, classroom=identity, kind=kind,
                          codec=codec, source=info.source, layer=info.layer,
                          main=role == "teacher")
        self.writer.submit(add)
        self._tracks.add(producer_id)
        self._event("track_started", actor=identity, producer_id=producer_id, kind=kind,
                      codec=codec, source=info.source)
        return True

    def _on_frame(self, frame: Any) -> None:
        if frame.data is None or frame.timestamp is None:
            return
        pid = frame.producer_id
        if not self._ensure_track(pid):
            return
        if pid not in self._sr_taps:
            receiver = self._receiver_for(pid)
            if receiver is not None:
                self._sr_taps[pid] = SenderReportTap(receiver, self._sr_handler(pid))
        enc = EncodedFrame(frame.data, int(frame.timestamp), time.time(), frame.keyframe)
        self.frames[pid] += 1
        self.writer.submit(lambda: self.recording.write(pid, enc))
        tap = self._sr_taps.get(pid)
        if tap is not None:
            tap.flush()

    def _sr_handler(self, producer_id: str) -> Callable[[int, int], None]:
        def on_sr(ntp: int, rtp: int) -> None:
            self.writer.submit(lambda: self.recording.sender_report(producer_id, ntp, rtp))
        return on_sr

    def _receiver_for(self, producer_id: str) -> Any:
        """The aiortc receiver carrying a producer (TongbuClient keeps it in `_inbound`).

        Reads the client's private map; a public `receiver_for(producer_id)` on
        TongbuClient would remove this coupling (asked of the client's owner).
        """
        inbound: dict[str, Any] = getattr(self.client, "_inbound", {})
        for inb in inbound.values():
            if inb.producer_id == producer_id and inb.tap is not None:
                return inb.tap.receiver
        pc = getattr(self.client, "_recv_pc", None)
        for mid, inb in inbound.items():
            if inb.producer_id == producer_id and pc is not None:
                for t in pc.getTransceivers():
                    if t.mid == mid:
                        return t.receiver
        return None

    def _on_producer_removed(self, producer_id: str, owner: str | None = None) -> None:
        if producer_id in self._tracks:
            self.writer.submit(lambda: self.recording.close_track(producer_id))
            self._event("track_ended", actor=owner, producer_id=producer_id)
        tap = self._sr_taps.pop(producer_id, None)
        if tap is not None:
            tap.detach()

    def _on_floor(self, floor: Any, previous: Any = None) -> None:
        self._event("floor_changed", holder=getattr(floor, "holder", None),
                                 previous=getattr(previous, "holder", None))

    def _on_joined(self, info: Any) -> None:
        self._event("participant_joined", actor=getattr(info, "identity", None),
                                 participant_id=getattr(info, "id", None))

    def _on_left(self, participant_id: str, reason: Any = None) -> None:
        self._event("participant_left", participant_id=participant_id,
                                 reason=str(reason) if reason is not None else None)

    # -- lifecycle ------------------------------------------------------------------
    def _make_client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory(self.url, self.token)
        from clients.python import TongbuClient

        return TongbuClient(self.url, self.token, decode=False, auto_subscribe=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set or the server closes the session."""
        self.client = self._make_client()
        c = self.client
        c.on_frame(self._on_frame)
        c.on_producer_removed(self._on_producer_removed)
        c.on_floor_changed(self._on_floor)
        c.on_participant_joined(self._on_joined)
        c.on_participant_left(self._on_left)
        self._loop = asyncio.get_running_loop()
        if self.uploader is not None:
            self.recording.on_segment_closed = self._segment_closed
            for writer in self.recording.writers.values():
                writer.on_segment_closed = self._segment_closed
        try:
            joined = await c.join()
            self._event("recorder_joined", participant_id=joined.participant_id,
                                     producers=len(joined.producers))
            if self.reporter is not None:
                await self.reporter.send("recording", await self._snapshot())
            self._background = [asyncio.create_task(self._poll_layers()),
                                asyncio.create_task(self._report_progress())]
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(c.closed.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
        finally:
            await self.close(failed=c.closed.is_set() and not stop.is_set())

    # -- background work while recording -----------------------------------------------
    async def _snapshot(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.recording.snapshot)

    def _segment_closed(self, seg: Any) -> None:
        """On the writer thread: hand the closed file to the uploader on the loop."""
        loop, uploader = self._loop, self.uploader
        if loop is None or uploader is None:
            return
        key = f"{self.recording.manifest.recording_id}/{seg.file}"
        path = self.recording.directory / seg.file
        loop.call_soon_threadsafe(uploader.enqueue, key, path)

    async def _poll_layers(self) -> None:
        """Our own consumers' layers (the SFU may move them) become manifest layer switches."""
        while True:
            await asyncio.sleep(self.layer_poll_every)
            try:
                stats = await self.client.get_stats("self")
            except Exception as exc:  # a stats hiccup must not end the recording
                log.debug("recorder stats failed: %s", exc)
                continue
            self.note_consumer_layers(stats.consumers)

    def note_consumer_layers(self, consumers: dict[str, dict[str, Any]]) -> None:
        for info in consumers.values():
            pid, layer = str(info.get("producer_id") or ""), str(info.get("layer") or "")
            if not pid or not layer or pid not in self._tracks:
                continue
            previous = self._layers.get(pid)
            self._layers[pid] = layer
            if previous is not None and previous != layer:
                self.writer.submit(partial(self.recording.note_layer_switch, pid, layer))
                self._event("layer_switched", producer_id=pid, layer=layer, previous=previous)

    async def _report_progress(self) -> None:
        if self.reporter is None:
            return
        while True:
            await asyncio.sleep(self.report_every)
            await self.reporter.send("recording", await self._snapshot())

    async def close(self, failed: bool = False) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        for tap in self._sr_taps.values():
            tap.detach()
        self._sr_taps.clear()
        if self.client is not None:
            try:
                await self.client.leave()
            except Exception:
                log.exception("recorder leave failed")
        await asyncio.to_thread(self.writer.close)
        await asyncio.to_thread(self.recording.close, "failed" if failed else "stopped")
        rep = self.reporter
        if rep is not None:
            await rep.send("processing", await self._snapshot())
        error: str | None = None
        if self.storage is not None:
            log.info("recorder uploading the rest of %s", self.recording.manifest.recording_id)
            done: set[str] = set()
            if self.uploader is not None:
                # Storage up: let the queue finish; down: stop at its first failure.
                await self.uploader.drain(within=30.0, until_error=True)
                done = set(self.uploader.status.uploaded)
                await self.uploader.close()
                log.info("recorder uploader closed (%d uploaded while recording)", len(done))
            try:
                await upload_recording(self.storage, self.recording.directory,
                                       self.recording.manifest.recording_id, skip=done)
                self.recording.log_event("uploaded")
                if rep is not None:
                    await rep.send("uploaded", await self._snapshot())
            except Exception as exc:  # files stay on local disk; an operator can re-upload
                code = getattr(exc, "code", type(exc).__name__)
                error = f"upload failed ({code}): {exc}; the files are kept on the recorder's disk"
                log.error("recording upload failed: %s", exc)
                self.recording.log_event("upload_failed", error=str(exc))
        if rep is not None:
            size = await asyncio.to_thread(_dir_size, self.recording.directory)
            if error is not None:
                await rep.send("failed", await self._snapshot(), size_bytes=size, error=error)
            else:
                await rep.send("ready", await self._snapshot(), size_bytes=size)


def _dir_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def recording_dir(root: Path, recording_id: str) -> Path:
    from recorder.storage import validate_key

    return root / validate_key(recording_id)
