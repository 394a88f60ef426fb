"""Stats of the SFU: an aggregate for ``/metrics`` and per-object rows for signaling.

``MediaCollector`` is a ``prometheus_client`` custom collector that reads a
``Worker`` at scrape time (no counters updated on the hot path). The server
registers it into its per-app ``CollectorRegistry``; nothing here touches the
global ``REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from media.room import Room
    from media.worker import Worker


@dataclass
class WorkerStats:
    rooms: int = 0
    transports: int = 0
    producers: int = 0
    consumers: int = 0
    producer_frames: int = 0
    producer_bytes: int = 0
    consumer_frames_sent: int = 0
    consumer_bytes_sent: int = 0
    consumer_frames_dropped: int = 0
    keyframe_requests: int = 0
    keyframe_requests_sent: int = 0
    producer_rows: list[dict[str, Any]] = field(default_factory=list)
    consumer_rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_rows")}


def collect_worker_stats(rooms: Iterable[Room]) -> WorkerStats:
    s = WorkerStats()
    for room in rooms:
        s.rooms += 1
        for transport in room.transports.values():
            s.transports += 1
            for p in transport.producers.values():
                row = {"room": room.id, **p.stats()}
                s.producers += 1
                s.producer_frames += row["frames"]
                s.producer_bytes += row["bytes"]
                s.keyframe_requests += row["keyframe_requests"]
                s.keyframe_requests_sent += row["keyframe_requests_sent"]
                s.producer_rows.append(row)
            for c in transport.consumers.values():
                row = {"room": room.id, **c.stats()}
                s.consumers += 1
                s.consumer_frames_sent += row["frames_sent"]
                s.consumer_bytes_sent += row["bytes_sent"]
                s.consumer_frames_dropped += row["frames_dropped"]
                s.consumer_rows.append(row)
    return s


class MediaCollector(Collector):
    """Prometheus view of one Worker; per-room labels, not per-consumer (bounded cardinality)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def describe(self) -> list[Any]:
        return []  # collected lazily; avoids scraping the worker at registration

    def collect(self) -> Iterator[Any]:
        stats = self._worker.stats()
        gauges = {
            "rooms": ("tongbu_media_rooms", "Open rooms"),
            "transports": ("tongbu_media_transports", "Open transports (peer connections)"),
            "producers": ("tongbu_media_producers", "Live producers"),
            "consumers": ("tongbu_media_consumers", "Live consumers"),
        }
        for key, (name, doc) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=getattr(stats, key))
        per_room: dict[str, dict[str, float]] = {}
        for row in stats.producer_rows:
            r = per_room.setdefault(row["room"], {})
            r["frames_in"] = r.get("frames_in", 0) + row["frames"]
            r["bytes_in"] = r.get("bytes_in", 0) + row["bytes"]
            r["kf_req"] = r.get("kf_req", 0) + row["keyframe_requests"]
            r["kf_sent"] = r.get("kf_sent", 0) + row["keyframe_requests_sent"]
        for row in stats.consumer_rows:
            r = per_room.setdefault(row["room"], {})
            r["frames_out"] = r.get("frames_out", 0) + row["frames_sent"]
            r["bytes_out"] = r.get("bytes_out", 0) + row["bytes_sent"]
            r["dropped"] = r.get("dropped", 0) + row["frames_dropped"]
        counters = {
            "frames_in": ("tongbu_media_producer_frames", "Encoded frames received"),
            "bytes_in": ("tongbu_media_producer_bytes", "Encoded bytes received"),
            "frames_out": ("tongbu_media_consumer_frames_sent", "Frames handed to senders"),
            "bytes_out": ("tongbu_media_consumer_bytes_sent", "Bytes handed to senders"),
            "dropped": ("tongbu_media_consumer_frames_dropped", "Frames dropped (backpressure)"),
            "kf_req": ("tongbu_media_keyframe_requests", "Keyframe requests (before throttling)"),
            "kf_sent": ("tongbu_media_keyframe_requests_sent", "PLIs sent to publishers"),
        }
        for key, (name, doc) in counters.items():
            family = CounterMetricFamily(name, doc, labels=["room"])
            for room_id, values in per_room.items():
                family.add_metric([room_id], values.get(key, 0))
            yield family
