from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from media.events import EventEmitter
from media.stats import MediaCollector
from media.worker import Worker
from server.settings import MediaSettings


def test_safe_emit_logs_a_throwing_listener_and_still_calls_the_others():
    em = EventEmitter()
    seen: list[object] = []
    em.on("close", lambda r: 1 / 0)
    em.on("close", seen.append)
    em.on("listenererror", lambda event, exc: seen.append((event, type(exc).__name__)))
    assert em.emit("close", "bye") is True
    assert seen == [("close", "ZeroDivisionError"), "bye"]


async def test_collector_reads_the_worker_into_a_private_registry():
    worker = Worker(MediaSettings())
    worker.create_room("a")
    worker.create_room("b")
    registry = CollectorRegistry()
    registry.register(MediaCollector(worker))
    text = generate_latest(registry).decode()
    assert "tongbu_media_rooms 2.0" in text
    assert "tongbu_media_consumers 0.0" in text
    await worker.close()
    assert worker.stats().rooms == 0
    assert "tongbu_media_rooms 0.0" in generate_latest(registry).decode()
