"""One incoming track, depacketized once, never decoded.

Lifecycle: created by a send ``Transport`` when it applies an offer → live
(frames flow from the ``ReceiverTap``) → closed (by ``close()``, by its
transport or room closing, or when the publisher stops the track). Never reused.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Protocol

import av
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.codecs import is_keyframe
from media.events import EventEmitter
from media.keyframes import KeyframeCache, KeyframeRequester
from server.settings import MediaSettings

logger = logging.getLogger("tongbu.media.producer")

Source = Literal["camera", "mic", "screen"]
LayerName = Literal["high", "low"]


@dataclass
class TrackInfo:
    """What the publisher says a track is (from signaling, keyed by the offer's mid)."""

    source: Source = "camera"
    layer: LayerName = "high"


class FrameSink(Protocol):
    """A consumer's entry point; must not raise or block."""

    def _on_producer_frame(self, producer: Producer, packet: av.Packet) -> None: ...


class Producer(EventEmitter):
    """Events: ``close``, ``keyframe``, ``pause``, ``resume`` (and ``@close`` for the parent)."""

    def __init__(
        self,
        *,
        peer_id: str,
        kind: str,
        codec: RTCRtpCodecParameters,
        info: TrackInfo,
        settings: MediaSettings,
        send_pli: Callable[[], bool],
        mid: str | None = None,
        producer_id: str | None = None,
    ) -> None:
        super().__init__()
        self.id = producer_id or uuid.uuid4().hex
        self.peer_id = peer_id
        self.kind = kind
        self.mid = mid
        self.codec = codec.mimeType  # e.g. "video/VP8"
        self.codec_parameters = codec
        self.source: str = info.source
        self.layer: str = info.layer if kind == "video" else "high"
        self.group = f"{peer_id}:{info.source}"
        self.paused = False
        self.closed = False
        self.observer = EventEmitter()
        self._time_base = Fraction(1, codec.clockRate)
        self._mime = codec.mimeType.lower()
        self._sinks: list[FrameSink] = []
        self.cache = KeyframeCache(settings.keyframe_cache_max_frames if kind == "video" else 0)
        self.keyframes = KeyframeRequester(send_pli, settings.keyframe_request_interval)
        # stats
        self.frames = 0
        self.bytes = 0
        self.keyframes_received = 0
        self.last_pts: int | None = None

    # -- data plane -------------------------------------------------------
    def _on_encoded_frame(self, codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None:
        """Called by the ReceiverTap on the event loop for every complete frame."""
        if self.closed:
            return
        key = is_keyframe(self._mime, data)
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.dts = timestamp
        packet.time_base = self._time_base
        packet.is_keyframe = key
        self.frames += 1
        self.bytes += len(data)
        self.last_pts = timestamp
        if self.kind == "video":
            self.cache.add(packet, key)
            if key:
                self.keyframes_received += 1
                self.emit("keyframe")
        if self.paused:
            return
        for sink in self._sinks:
            try:
                sink._on_producer_frame(self, packet)
            except Exception:
                logger.exception("consumer failed to take a frame of producer %s", self.id)

    def _add_sink(self, sink: FrameSink) -> None:
        if sink not in self._sinks:
            self._sinks = [*self._sinks, sink]

    def _remove_sink(self, sink: FrameSink) -> None:
        if sink in self._sinks:
            self._sinks = [s for s in self._sinks if s is not sink]

    # -- control ------------------------------------------------------------
    def request_keyframe(self) -> bool:
        """Ask the publisher for a keyframe; throttled, True if a PLI was sent now."""
        if self.kind != "video" or self.closed:
            return False
        return self.keyframes.request()

    def pause(self) -> None:
        """Server-side mute: consumers get nothing while paused."""
        if self.closed or self.paused:
            return
        self.paused = True
        self.emit("pause")
        self.observer.emit("pause")

    def resume(self) -> None:
        if self.closed or not self.paused:
            return
        self.paused = False
        self.emit("resume")
        self.observer.emit("resume")
        self.request_keyframe()

    async def close(self) -> None:
        self._close("closed")

    def _close(self, reason: str) -> None:
        """Idempotent; emits ``close`` then ``@close`` (the parents drop it)."""
        if self.closed:
            return
        self.closed = True
        self.keyframes.close()
        self.cache.clear()
        self._sinks = []
        self.emit("close", reason)
        self.observer.emit("close", reason)
        self.emit("@close", reason)
        self.remove_all_listeners()

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "peer_id": self.peer_id,
            "kind": self.kind,
            "codec": self.codec,
            "source": self.source,
            "layer": self.layer,
            "paused": self.paused,
            "frames": self.frames,
            "bytes": self.bytes,
            "keyframes": self.keyframes_received,
            "keyframe_requests": self.keyframes.requested,
            "keyframe_requests_sent": self.keyframes.sent,
            "consumers": len(self._sinks),
            "cached_frames": len(self.cache),
        }
