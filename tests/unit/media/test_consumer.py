"""Consumer decisions on fixture frames: layer switch at keyframe, backpressure, pts rebase."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.codecs import is_keyframe
from media.consumer import Consumer
from media.layers import LinkSample
from media.producer import Producer, TrackInfo
from server.settings import MediaSettings

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96)
KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00, 0x00])
DELTA = bytes([0x31, 0x02, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77])


def make_producer(layer: str, settings: MediaSettings, plis: list[str], kind: str = "video"):
    return Producer(
        peer_id="teacher",
        kind=kind,
        codec=VP8 if kind == "video" else OPUS,
        info=TrackInfo("camera" if kind == "video" else "mic", layer),  # type: ignore[arg-type]
        settings=settings,
        send_pli=lambda: plis.append(layer) or True,
    )


def drain(consumer: Consumer) -> list[tuple[bytes, int]]:
    out = [(bytes(p), pts) for p, pts in consumer.track.queue]
    consumer.track.queue.clear()
    return out


def test_keyframe_detection_on_fixture_frames():
    assert is_keyframe("video/VP8", KEY)
    assert not is_keyframe("video/VP8", DELTA)
    assert is_keyframe("video/H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65\x88")
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert is_keyframe("audio/opus", b"\xfc")


async def test_switches_layer_only_on_a_keyframe_of_the_target():
    settings = MediaSettings(keyframe_request_interval=0.0)
    plis: list[str] = []
    high, low = make_producer("high", settings, plis), make_producer("low", settings, plis)
    c = Consumer(peer_id="s", producer=high, layers=[high, low], settings=settings)
    c._start()
    events: list[str] = []
    c.on("layerschange", events.append)
    high._on_encoded_frame(VP8, DELTA, 0)  # no keyframe yet: dropped
    high._on_encoded_frame(VP8, KEY, 3000)
    high._on_encoded_frame(VP8, DELTA, 6000)
    low._on_encoded_frame(VP8, DELTA, 6000)  # other layer: ignored
    assert [d for d, _ in drain(c)] == [KEY, DELTA]
    c.set_preferred_layer("low")
    assert plis[-1] == "low"  # a keyframe of the target layer was requested
    low._on_encoded_frame(VP8, DELTA, 9000)  # delta of target: still on high
    high._on_encoded_frame(VP8, DELTA, 9000)
    assert c.layer == "high"
    low._on_encoded_frame(VP8, KEY, 12000)  # the switch point
    high._on_encoded_frame(VP8, DELTA, 12000)  # old layer now ignored
    low._on_encoded_frame(VP8, DELTA, 15000)
    assert c.layer == "low" and events == ["high", "low"]
    assert [d for d, _ in drain(c)] == [DELTA, KEY, DELTA]


async def test_pts_stay_monotonic_across_switch_and_resume():
    settings = MediaSettings()
    high, low = make_producer("high", settings, []), make_producer("low", settings, [])
    c = Consumer(peer_id="s", producer=high, layers=[high, low], settings=settings)
    c._start()
    high._on_encoded_frame(VP8, KEY, 900000)
    high._on_encoded_frame(VP8, DELTA, 903000)
    c.set_preferred_layer("low")
    low._on_encoded_frame(VP8, KEY, 12000)  # a different clock origin on the low layer
    low._on_encoded_frame(VP8, DELTA, 15000)
    high.pause()
    c.pause()
    c.resume()
    low._on_encoded_frame(VP8, KEY, 500000)
    pts = [p for _, p in drain(c)]
    assert pts == [0, 3000, 6000, 9000, 12000]


async def test_overflow_drops_video_until_the_next_keyframe():
    settings = MediaSettings(consumer_video_queue=5)
    plis: list[str] = []
    high = make_producer("high", settings, plis)
    c = Consumer(peer_id="s", producer=high, layers=[high], settings=settings)
    c._start()
    high._on_encoded_frame(VP8, KEY, 0)
    for i in range(1, 10):
        high._on_encoded_frame(VP8, DELTA, i * 3000)
    assert len(c.track.queue) == 5
    assert c.frames_dropped == 5
    assert plis  # asked for a keyframe to recover
    c.track.queue.clear()  # the sender catches up
    high._on_encoded_frame(VP8, DELTA, 30000)  # still dropping: decoder would break
    assert c.frames_dropped == 6 and not c.track.queue
    high._on_encoded_frame(VP8, KEY, 33000)
    assert [d for d, _ in drain(c)] == [KEY]


async def test_audio_consumer_never_drops_for_a_stalled_video_consumer():
    settings = MediaSettings(consumer_video_queue=2, consumer_audio_queue=100)
    video_p = make_producer("high", settings, [])
    audio_p = make_producer("high", settings, [], kind="audio")
    v = Consumer(peer_id="s", producer=video_p, layers=[video_p], settings=settings)
    a = Consumer(peer_id="s", producer=audio_p, layers=[audio_p], settings=settings)
    v._start()
    a._start()
    video_p._on_encoded_frame(VP8, KEY, 0)
    for i in range(50):
        video_p._on_encoded_frame(VP8, DELTA, (i + 1) * 3000)
        audio_p._on_encoded_frame(OPUS, b"\xfc\x01", i * 960)
    assert v.frames_dropped > 0
    assert a.frames_dropped == 0 and len(a.track.queue) == 50


async def test_poor_feedback_moves_the_consumer_to_the_low_layer():
    settings = MediaSettings(keyframe_request_interval=0.0)
    plis: list[str] = []
    high, low = make_producer("high", settings, plis), make_producer("low", settings, plis)
    c = Consumer(peer_id="s", producer=high, layers=[high, low], settings=settings)
    c._start()
    high._on_encoded_frame(VP8, KEY, 0)
    c.apply_link_sample(LinkSample(at=1.0, loss=0.2))
    c.apply_link_sample(LinkSample(at=2.0, loss=0.2))
    assert plis[-1] == "low"
    low._on_encoded_frame(VP8, KEY, 3000)
    assert c.layer == "low" and c.preferred_layer == "high"


async def test_closing_the_only_producer_closes_the_consumer():
    settings = MediaSettings()
    high = make_producer("high", settings, [])
    c = Consumer(peer_id="s", producer=high, layers=[high], settings=settings)
    seen: list[str] = []
    c.on("producerclose", lambda: seen.append("producerclose"))
    await high.close()
    assert seen == ["producerclose"] and c.closed and c.track.readyState == "ended"


def test_unknown_layer_is_a_type_error():
    settings = MediaSettings()
    high = make_producer("high", settings, [])
    c = Consumer(peer_id="s", producer=high, layers=[high], settings=settings)
    with pytest.raises(TypeError):
        c.set_preferred_layer("medium")


async def test_a_late_joiner_gets_the_whole_cached_gop_even_beyond_its_queue():
    settings = MediaSettings(consumer_video_queue=5, keyframe_prime_max_frames=20)
    plis: list[str] = []
    high = make_producer("high", settings, plis)
    high._on_encoded_frame(VP8, KEY, 0)
    for i in range(1, 12):  # 12 cached frames: more than the queue of 5
        high._on_encoded_frame(VP8, DELTA, i * 3000)
    c = Consumer(peer_id="late", producer=high, layers=[high], settings=settings)
    first = await c.track.recv()  # the sender's first pull primes from the cache
    assert bytes(first) == KEY and len(c.track.queue) == 11
    high._on_encoded_frame(VP8, DELTA, 36000)  # live frames keep coming during the burst
    assert len(c.track.queue) == 12 and c.frames_dropped == 0
    for _ in range(12):  # the sender drains the burst
        await c.track.recv()
    assert c.track.extra == 0
    for i in range(13, 20):  # afterwards the normal limit applies again
        high._on_encoded_frame(VP8, DELTA, i * 3000)
    assert len(c.track.queue) == 5 and c.frames_dropped == 2


async def test_a_gop_longer_than_the_prime_limit_waits_for_a_fresh_keyframe():
    settings = MediaSettings(consumer_video_queue=5, keyframe_prime_max_frames=8,
                             keyframe_request_interval=0.0)
    plis: list[str] = []
    high = make_producer("high", settings, plis)
    high._on_encoded_frame(VP8, KEY, 0)
    for i in range(1, 12):
        high._on_encoded_frame(VP8, DELTA, i * 3000)
    plis.clear()
    c = Consumer(peer_id="late", producer=high, layers=[high], settings=settings)
    c._start()
    assert not c.track.queue and plis and set(plis) == {"high"}
