"""One outgoing copy of a producer group (the layers of one source) for one peer.

Lifecycle: created by ``Transport.consume`` → waiting for a keyframe of its
target layer (primed at once from the producer's keyframe cache when it fits
the queue) → forwarding → closed (``close()``, transport closed, or every
producer of its group closed: ``producerclose``). Never reused.

Data path: ``Producer._on_encoded_frame`` calls ``_on_producer_frame`` with
the shared ``av.Packet``; the consumer decides (forward / drop / switch layer)
and appends ``(packet, out_pts)`` to its bounded queue; ``ConsumerTrack.recv``
hands the packet to aiortc's ``RTCRtpSender``, whose ``Packer`` packetizes it
with ``out_pts``. The producer is never blocked: the push is O(1) and never
awaits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.bwe import (
    BandwidthEstimator,
    BweParams,
    ChoiceState,
    RateMeter,
    RetransmitGate,
    choose_layer,
    lower_of,
    remb_of,
)
from media.events import EventEmitter
from media.layers import LayerParams, LayerState, LinkSample, decide, target_layer
from media.passthrough import ReceiverReport

if TYPE_CHECKING:
    from media.passthrough import SenderTap
    from media.producer import Producer
    from server.settings import MediaSettings

logger = logging.getLogger("tongbu.media.consumer")

# Fallback frame spacing when rebasing, in RTP clock units (30 fps video, 20 ms Opus).
DEFAULT_FRAME_TICKS = {"video": 3000, "audio": 960}


class ConsumerTrack(MediaStreamTrack):
    """A ``MediaStreamTrack`` whose ``recv()`` returns encoded ``av.Packet``s.

    ``out_pts`` is the consumer-timeline timestamp of the packet last returned;
    the ``Packer`` reads it (the packet's own pts is the producer's).
    """

    def __init__(self, kind: str, maxlen: int, on_start: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self._on_start: Callable[[], None] | None = on_start
        self.maxlen = maxlen
        self.queue: deque[tuple[av.Packet, int]] = deque()
        self.out_pts = 0
        self._waiter: asyncio.Future[None] | None = None
        # Room above `maxlen` for a late joiner's primed burst; gone once it drained.
        self.extra = 0

    def push(self, packet: av.Packet, out_pts: int) -> None:
        self.queue.append((packet, out_pts))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._on_start is not None:
            # first call: the sender runs (DTLS is up), so start from the keyframe cache now
            on_start, self._on_start = self._on_start, None
            on_start()
        while not self.queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        packet, self.out_pts = self.queue.popleft()
        if self.extra and len(self.queue) < self.maxlen:
            self.extra = 0
        return packet

    @property
    def full(self) -> bool:
        return len(self.queue) >= self.maxlen + self.extra

    def stop(self) -> None:
        super().stop()
        self.queue.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Consumer(EventEmitter):
    """Events: ``producerclose``, ``transportclose``, ``layerschange``(layer), ``close``."""

    def __init__(
        self,
        *,
        peer_id: str,
        producer: Producer,
        layers: list[Producer],
        settings: MediaSettings,
        preferred_layer: str | None = None,
        consumer_id: str | None = None,
    ) -> None:
        super().__init__()
        self.id = consumer_id or uuid.uuid4().hex
        self.producer_id = producer.id
        self.peer_id = peer_id
        self.kind = producer.kind
        self.codec = producer.codec
        self.group = producer.group
        self.preferred_layer: str = preferred_layer or producer.layer
        self.layer: str | None = None  # layer being forwarded; None until the first keyframe
        self.paused = False
        self.closed = False
        self.observer = EventEmitter()
        maxlen = (
            settings.consumer_video_queue if self.kind == "video" else settings.consumer_audio_queue
        )
        self.track = ConsumerTrack(self.kind, maxlen, self._start)
        self._prime_max = settings.keyframe_prime_max_frames
        self.started = False
        self.sender_tap: SenderTap | None = None
        self.mid: str | None = None  # the m-section carrying it, once an offer assigned one
        self._layers: dict[str, Producer] = {}
        self._layer_params = LayerParams(hold=settings.layer_switch_hold)
        self._layer_state = LayerState()
        self._need_keyframe = True
        self._rebase = True
        self._in_base = 0
        self._out_base = 0
        self._last_out: int | None = None
        self._last_in: int | None = None
        self._frame_ticks = DEFAULT_FRAME_TICKS.get(self.kind, 3000)
        self._nacks_since_report = 0
        self._packets_at_report = 0
        # bandwidth view of the downlink (media/bwe.py): estimate, per-layer rates, choice
        self._bwe = BandwidthEstimator(BweParams(hold=settings.layer_switch_hold))
        self._choice = ChoiceState(hold=settings.layer_switch_hold)
        self._layer_rates: dict[str, RateMeter] = {}
        self._sent_rate = RateMeter()
        self.rtx_gate: RetransmitGate | None = None
        self.audio_only = False  # video paused because even the low layer does not fit
        self.audio_only_since: float | None = None
        # stats
        self.frames_sent = 0
        self.bytes_sent = 0
        self.frames_dropped = 0
        self.keyframes_requested = 0  # PLI/FIR from the remote peer + our own needs
        self.keyframes_sent = 0
        self.layer_switches = 0
        self.nacks = 0
        self.last_report: ReceiverReport | None = None
        for p in layers:
            self._add_layer(p)
        # ask now, so a fresh keyframe is cached by the time ICE/DTLS is up
        self._request_keyframe(self._target())

    # -- layers ---------------------------------------------------------------
    @property
    def producer(self) -> Producer | None:
        """The producer currently forwarded (or the one a switch waits for)."""
        return self._layers.get(self.layer or self._target() or "")

    def _target(self) -> str | None:
        allowed = lower_of(self._layer_state.allowed, self._choice.allowed or "low")
        return target_layer(
            self.preferred_layer,  # type: ignore[arg-type]
            allowed or "low",
            set(self._layers),
        )

    def _add_layer(self, producer: Producer) -> None:
        if producer.kind != self.kind or producer.group != self.group or producer.closed:
            return
        self._layers[producer.layer] = producer
        producer._add_sink(self)
        producer.on("@close", self._on_layer_closed)
        producer.on("resume", self._on_producer_resume)
        if self.started and self.layer is None:
            self._prime()
        elif self.started and self._target() != self.layer:
            self._request_keyframe(self._target())

    def _on_layer_closed(self, _reason: str) -> None:
        for producer in list(self._layers.values()):
            if producer.closed:
                self._remove_layer(producer)

    def _remove_layer(self, producer: Producer) -> None:
        if self._layers.get(producer.layer) is not producer:
            return
        del self._layers[producer.layer]
        producer._remove_sink(self)
        if not self._layers:
            self.emit("producerclose")
            self.observer.emit("producerclose")
            self._close("producer_closed")
            return
        if self.layer == producer.layer:
            self.layer = None
            self._need_keyframe = True
            self._request_keyframe(self._target())

    def set_preferred_layer(self, layer: str) -> None:
        """Switch on the next keyframe of ``layer`` (a keyframe is requested now)."""
        if layer not in ("high", "low"):
            raise TypeError(f"unknown layer {layer!r}")
        self.preferred_layer = layer
        target = self._target()
        if target is not None and target != self.layer:
            self._request_keyframe(target)

    def _start(self) -> None:
        """The sender asked for its first frame: prime from the cache, then go live."""
        self.started = True
        if self.rtx_gate is None and self.sender_tap is not None and self.kind == "video":
            # the sender exists now: cap its NACK retransmissions to a share of the estimate
            params = self._bwe.params
            self.rtx_gate = RetransmitGate(
                lambda: self._bwe.estimate * params.rtx_share,
                lambda: self.sender_tap.rtt if self.sender_tap is not None else None,
            )
            self.rtx_gate.install(self.sender_tap.sender)
        self._prime()

    def _prime(self) -> None:
        """Start a new consumer from the producer's keyframe cache, if it fits the queue.

        A cache longer than the queue would burst many stale frames at a weak
        link, so then we ask for a fresh keyframe instead.
        """
        target = self._target()
        if target is None or self.closed:
            return
        producer = self._layers[target]
        if self.kind == "video":
            cached = list(producer.cache)
            if cached and len(cached) <= self._prime_max and not producer.paused:
                self.track.extra = max(0, len(cached) - self.track.maxlen + 1)
                for packet in cached:
                    self._on_producer_frame(producer, packet)
            if self.layer is None:
                self._request_keyframe(target)

    def _request_keyframe(self, layer: str | None) -> None:
        producer = self._layers.get(layer or "")
        if producer is not None and self.kind == "video":
            producer.request_keyframe()

    # -- feedback from the sender (PLI/FIR, RR, NACK) -----------------------------
    def _on_remote_keyframe_request(self) -> None:
        """An incoming PLI/FIR on our sender: forward it (throttled) to the producer."""
        self.keyframes_requested += 1
        self._request_keyframe(self.layer or self._target())

    def _on_nack(self, count: int) -> None:
        self.nacks += count
        self._nacks_since_report += count

    def _on_receiver_report(self, report: ReceiverReport) -> None:
        self.last_report = report
        if self.kind != "video":
            return
        sent = self.sender_tap.packets_sent if self.sender_tap is not None else 0
        delta = max(sent - self._packets_at_report, 1)
        nack_ratio = self._nacks_since_report / delta
        self._packets_at_report = sent
        self._nacks_since_report = 0
        sample = LinkSample(
            at=time.monotonic(), loss=report.fraction_lost, rtt=report.rtt, nack_ratio=nack_ratio
        )
        last = self._bwe.last_report_at
        if last is None or sample.at - last < self._bwe.params.silence:
            # (the first report after a cut carries the cut's loss: not a reason to go down)
            self.apply_link_sample(sample)
        self._apply_bandwidth(sample.at, report.fraction_lost, report.rtt)

    def _apply_bandwidth(self, now: float, loss: float, rtt: float | None) -> None:
        """Feed the bandwidth estimator and move between layers / audio only (media/bwe.py)."""
        remb = remb_of(self.sender_tap.sender) if self.sender_tap is not None else None
        if remb is not None:
            self._bwe.on_remb(remb)
        estimate = self._bwe.on_report(loss, self._sent_rate.bps(now) or 0.0, rtt, now)
        rates = {layer: self._layer_rates[layer].bps(now) for layer in self._layers
                 if layer in self._layer_rates}  # fmt: skip
        before = self._target()
        lossy = (self._bwe.loss or 0.0) >= self._bwe.params.loss_low
        self._choice = choose_layer(
            self._choice, now, estimate, rates, self._bwe.params, lossy=lossy
        )
        off = self._choice.allowed is None
        if off != self.audio_only:
            self.audio_only = off
            self.audio_only_since = now if off else None
            if off:
                logger.info("consumer %s: audio only (estimate %.0f bps)", self.id, estimate)
                self.track.queue.clear()
                self.layer = None
                self.emit("layerschange", None)
                self.observer.emit("layerschange", None)
            else:
                self._need_keyframe = True
                self._rebase = True
                self._request_keyframe(self._target())
                return
        after = self._target()
        if after != before and after is not None and not off:
            self._request_keyframe(after)

    @property
    def estimate(self) -> float:
        """The downlink estimate in bits per second (media/bwe.py)."""
        return self._bwe.estimate

    def apply_link_sample(self, sample: LinkSample) -> None:
        """Feed one feedback sample to the layer decision (public for tests and signaling)."""
        before = self._target()
        self._layer_state = decide(self._layer_state, sample, self._layer_params)
        after = self._target()
        if after != before and after is not None:
            self._request_keyframe(after)

    # -- data plane -------------------------------------------------------------
    def _on_producer_frame(self, producer: Producer, packet: av.Packet) -> None:
        if self.closed:
            return
        meter = self._layer_rates.get(producer.layer)
        if meter is None:
            meter = self._layer_rates[producer.layer] = RateMeter()
        meter.add(time.monotonic(), packet.size)
        if self.paused or not self.started or self.audio_only:
            return
        layer = producer.layer
        key = packet.is_keyframe
        if layer != self.layer:
            # another layer: only a keyframe of the target layer moves us there
            if not key or layer != self._target():
                return
            switching = self.layer is not None
            self.layer = layer
            self._need_keyframe = False
            self._rebase = True
            if switching:
                self.layer_switches += 1
            self.emit("layerschange", layer)
            self.observer.emit("layerschange", layer)
        elif self._need_keyframe:
            if not key:
                self.frames_dropped += 1
                return
            self._need_keyframe = False
        self._enqueue(packet, key)

    def _enqueue(self, packet: av.Packet, key: bool) -> None:
        track = self.track
        if track.full:
            if self.kind == "video":
                if key:
                    # the queued deltas are stale: restart the queue at this keyframe
                    self.frames_dropped += len(track.queue)
                    track.queue.clear()
                else:
                    self.frames_dropped += 1
                    self._need_keyframe = True
                    self._request_keyframe(self.layer)
                    return
            else:
                # audio queue full (peer not reading): drop the oldest audio only
                track.queue.popleft()
                self.frames_dropped += 1
        pts = packet.pts or 0
        if self._rebase or self._last_in is None or self._last_out is None:
            gap = self._frame_ticks
            self._in_base = pts
            self._out_base = 0 if self._last_out is None else self._last_out + gap
            self._rebase = False
        elif pts > self._last_in:
            self._frame_ticks = min(max(pts - self._last_in, 1), 90000)
        out = self._out_base + (pts - self._in_base)
        if self._last_out is not None and out <= self._last_out:
            out = self._last_out + 1  # reordered input: keep the output monotonic
        self._last_in = pts
        self._last_out = out
        track.push(packet, out)
        self.frames_sent += 1
        self.bytes_sent += packet.size
        self._sent_rate.add(time.monotonic(), packet.size)
        if key and self.kind == "video":
            self.keyframes_sent += 1

    def _on_producer_resume(self) -> None:
        self._rebase = True
        if self.kind == "video":
            self._need_keyframe = True

    # -- control ----------------------------------------------------------------
    def pause(self) -> None:
        if self.closed or self.paused:
            return
        self.paused = True
        self.observer.emit("pause")

    def resume(self) -> None:
        if self.closed or not self.paused:
            return
        self.paused = False
        self._rebase = True
        if self.kind == "video":
            self._need_keyframe = True
            self._request_keyframe(self.layer or self._target())
        self.observer.emit("resume")

    async def close(self) -> None:
        self._close("closed")
        await self._cancel_listener_tasks()

    def _transport_closed(self) -> None:
        if self.closed:
            return
        self.emit("transportclose")
        self._close("transport_closed")

    def _close(self, reason: str) -> None:
        """Idempotent; ends the track (the sender's loop then exits) and detaches."""
        if self.closed:
            return
        self.closed = True
        for producer in self._layers.values():
            producer._remove_sink(self)
            producer.off("resume", self._on_producer_resume)
            producer.off("@close", self._on_layer_closed)
        self._layers.clear()
        self.track.stop()
        self.emit("close", reason)
        self.observer.emit("close", reason)
        self.emit("@close", reason)
        self.remove_all_listeners()

    def stats(self) -> dict[str, Any]:
        report = self.last_report
        rtt = self.sender_tap.rtt if self.sender_tap is not None else None
        return {
            "id": self.id,
            "producer_id": self.producer_id,
            "peer_id": self.peer_id,
            "kind": self.kind,
            "codec": self.codec,
            "layer": self.layer,
            "preferred_layer": self.preferred_layer,
            "allowed_layer": self._layer_state.allowed,
            "paused": self.paused,
            "frames_sent": self.frames_sent,
            "bytes_sent": self.bytes_sent,
            "frames_dropped": self.frames_dropped,
            "queued": len(self.track.queue),
            "keyframes_requested": self.keyframes_requested,
            "keyframes_sent": self.keyframes_sent,
            "layer_switches": self.layer_switches,
            "nacks": self.nacks,
            "fraction_lost": report.fraction_lost if report else None,
            "rtt": rtt,
            "estimate_bps": round(self._bwe.estimate),
            "remb_bps": self._bwe.remb,
            "audio_only": self.audio_only,
            **(self.rtx_gate.stats() if self.rtx_gate is not None else {}),
        }
