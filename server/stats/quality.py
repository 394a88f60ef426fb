"""Network quality of each stay, from the SFU's own consumer stats.

Why a sampler and not signaling code: the media layer already keeps, per consumer,
the receiver's last RTCP report (`fraction_lost`, 0..1), the round-trip time
(seconds) and the layer being forwarded. Every `interval` seconds this walks the
signaling hub's lesson rooms and adds each visible participant's numbers to a
running summary; when the participant leaves, the room-event observer
(server/webhooks/observer.py) takes the summary and writes a `quality_sample` row.
Nothing here runs on the media path; a missed tick only makes a summary coarser.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from signaling.observers import lesson_id_of

log = structlog.get_logger("tongbu.quality")


@dataclass
class StayQuality:
    first: float
    last: float
    loss_total: float = 0.0
    loss_n: int = 0
    rtt_total: float = 0.0
    rtt_n: int = 0
    video_ticks: int = 0
    low_ticks: int = 0

    def summary(self) -> dict[str, float]:
        return {
            "loss": round(self.loss_total / self.loss_n, 4) if self.loss_n else 0.0,
            "rtt_ms": round(self.rtt_total / self.rtt_n * 1000, 1) if self.rtt_n else 0.0,
            "low_layer_share": round(self.low_ticks / self.video_ticks, 4)
            if self.video_ticks
            else 0.0,
            "seconds": round(self.last - self.first, 1),
        }


class QualityTracker:
    def __init__(self, hub: Any, interval: float = 5.0) -> None:
        self.hub = hub
        self.interval = interval
        self.stays: dict[tuple[str, str], StayQuality] = {}
        self._task: asyncio.Task[None] | None = None

    def record(
        self, room: str, participant_id: str, consumers: Iterable[dict[str, Any]], now: float
    ) -> None:
        """Add one tick of a participant's consumer stats to its stay."""
        stay = self.stays.setdefault((room, participant_id), StayQuality(first=now, last=now))
        stay.last = now
        losses = [c["fraction_lost"] for c in consumers if c.get("fraction_lost") is not None]
        rtts = [c["rtt"] for c in consumers if c.get("rtt") is not None]
        videos = [c for c in consumers if c.get("kind") == "video"]
        if losses:
            stay.loss_total += sum(losses) / len(losses)
            stay.loss_n += 1
        if rtts:
            stay.rtt_total += sum(rtts) / len(rtts)
            stay.rtt_n += 1
        if videos:
            stay.video_ticks += 1
            if all(c.get("layer") == "low" for c in videos):
                stay.low_ticks += 1

    def sample(self) -> None:
        now = time.monotonic()
        for room in list(getattr(self.hub, "rooms", {}).values()):
            if lesson_id_of(room.id) is None:
                continue
            for p in list(room.participants.values()):
                if p.hidden:
                    continue  # patrol, evaluators, the recorder: not a teaching point's link
                consumers = [s.consumer.stats() for s in list(p.subscriptions.values())]
                self.record(room.id, p.id, consumers, now)
        # Stays whose leave never reached the observer (a crash, a closed room): drop them.
        stale = [k for k, v in self.stays.items() if now - v.last > 20 * self.interval]
        for key in stale:
            del self.stays[key]

    def pop(self, room: str, participant_id: str) -> dict[str, float] | None:
        """The stay's summary (and forget it); None if it was never sampled."""
        stay = self.stays.pop((room, participant_id), None)
        return stay.summary() if stay is not None else None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sample()
            except Exception:  # a room closing under us: the next tick sees the new state
                log.debug("quality sample skipped", exc_info=True)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
