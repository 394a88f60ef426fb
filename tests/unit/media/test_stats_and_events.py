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


def test_h264_capability_keeps_profile_and_packetization_mode():
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from media.codecs import capability_for

    browser = RTCRtpCodecParameters(
        mimeType="video/H264", clockRate=90000, payloadType=102,
        parameters={"packetization-mode": 1, "profile-level-id": "42e034"},
    )
    caps = capability_for(browser)
    assert caps[0].parameters["profile-level-id"] == "42e01f"
    assert str(caps[0].parameters["packetization-mode"]) == "1"
    assert caps[1].mimeType == "video/rtx"
