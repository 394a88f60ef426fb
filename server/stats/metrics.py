"""Operations metrics the other collectors leave out: participants, bitrate, DB-sampled states.

Read media/stats.py (rooms, transports, producers, consumers, frames, drops,
keyframe requests per room) and server/api/ops.py (uptime, DB pool, HTTP) first:
this adds only what they lack.
- participants per room role and visibility, read from the signaling hub at scrape;
- media bitrate in/out, from the worker's byte counters between two scrapes
  (a gauge for dashboards without PromQL; `rate()` of the byte counters is the same);
- lessons live now, recordings per state and pending webhook deliveries: these
  need the database, which a scrape must not wait on, so a lifespan task samples
  them every `interval` seconds and the collector reports the last sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.db.models import Lesson, LessonState, Recording, RecordingState
from server.db.models_supervision import DeliveryState, WebhookDelivery
from server.settings import Settings

log = structlog.get_logger("tongbu.metrics")
SAMPLE_INTERVAL = 15.0


class SupervisionCollector(Collector):
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._last_bytes: tuple[float, int, int] | None = None
        self.sample: dict[str, dict[str, float]] = {}

    def describe(self) -> list[Any]:
        return []  # collected lazily

    def _participants(self) -> Iterator[GaugeMetricFamily]:
        hub = getattr(self._app.state, "hub", None)
        tally: Tally[tuple[str, str]] = Tally()
        rooms = 0
        for room in list(getattr(hub, "rooms", {}).values()):
            rooms += 1
            for p in list(room.participants.values()):
                tally[(p.claims.role.value, "true" if p.hidden else "false")] += 1
        family = GaugeMetricFamily(
            "tongbu_participants",
            "Participants in signaling rooms by room role and visibility",
            labels=["role", "hidden"],
        )
        for (role, hidden), n in sorted(tally.items()):
            family.add_metric([role, hidden], n)
        yield family
        yield GaugeMetricFamily("tongbu_signaling_rooms", "Signaling rooms open", value=rooms)

    def _bitrate(self) -> Iterator[GaugeMetricFamily]:
        worker = getattr(self._app.state, "worker", None)
        if worker is None or not hasattr(worker, "stats"):
            return
        stats = worker.stats()
        now = time.monotonic()
        b_in, b_out = int(stats.producer_bytes), int(stats.consumer_bytes_sent)
        family = GaugeMetricFamily(
            "tongbu_media_bitrate_bps",
            "Media bitrate since the previous scrape",
            labels=["direction"],
        )
        if self._last_bytes is not None:
            then, last_in, last_out = self._last_bytes
            dt = max(now - then, 1e-3)
            family.add_metric(["in"], max(b_in - last_in, 0) * 8 / dt)
            family.add_metric(["out"], max(b_out - last_out, 0) * 8 / dt)
        self._last_bytes = (now, b_in, b_out)
        yield family

    def _sampled(self) -> Iterator[GaugeMetricFamily]:
        docs = {
            "lessons": ("tongbu_lessons", "Lessons by state (sampled from the database)"),
            "recordings": ("tongbu_recordings", "Recordings by state (sampled from the database)"),
            "webhooks": ("tongbu_webhook_deliveries_queued", "Webhook deliveries by state"),
        }
        for key, (name, doc) in docs.items():
            family = GaugeMetricFamily(name, doc, labels=["state"])
            for state, n in sorted(self.sample.get(key, {}).items()):
                family.add_metric([state], n)
            yield family

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._participants()
        yield from self._bitrate()
        yield from self._sampled()


async def take_sample(db: Any) -> dict[str, dict[str, float]]:
    """Counts per state of lessons live/scheduled, recordings and webhook deliveries."""
    out: dict[str, dict[str, float]] = {}
    async with db.session() as session:
        for key, column, states in (
            ("lessons", Lesson.state, [LessonState.LIVE]),
            ("recordings", Recording.state, list(RecordingState)),
            ("webhooks", WebhookDelivery.state, [DeliveryState.PENDING, DeliveryState.FAILED]),
        ):
            rows = await session.execute(
                sa.select(column, sa.func.count()).where(column.in_(states)).group_by(column)
            )
            counts = {s.value: 0.0 for s in states}
            counts.update({str(getattr(s, "value", s)): float(n) for s, n in rows})
            out[key] = counts
    return out


def install_metrics(app: FastAPI) -> None:
    """Register the collector and the sampling task (one call from install_api)."""
    collector = SupervisionCollector(app)
    app.state.metrics.register(collector)
    app.state.supervision_metrics = collector

    async def sampler(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
        async def loop() -> None:
            failures = 0
            while True:
                try:
                    collector.sample = await take_sample(app.state.db)
                    failures = 0
                except Exception as exc:  # database away: keep the last sample
                    failures += 1
                    if failures == 1:
                        log.warning("metrics sample failed", error=type(exc).__name__)
                await asyncio.sleep(SAMPLE_INTERVAL * min(2**failures, 8))

        task = asyncio.get_running_loop().create_task(loop())

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(stop)

    app.state.components.append(sampler)
