"""1 publisher → N subscribers over real aiortc peers on loopback, no decode/encode on the relay."""

from __future__ import annotations

import asyncio
import time
from unittest import mock

import aiortc.codecs as codecs_pkg
import aiortc.codecs.h264 as h264_mod
import aiortc.codecs.opus as opus_mod
import aiortc.codecs.vpx as vpx_mod
import aiortc.rtcrtpreceiver as receiver_mod
import aiortc.rtcrtpsender as sender_mod
import av
import pytest

from media import TrackInfo, Worker
from server.errors import BadRequest
from tests.integration.media.peers import Subscriber, publish, wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(30)]


async def _subscribe(room, peer_id: str, producers=None, layer=None) -> tuple[Subscriber, object]:
    transport = room.create_transport(peer_id, "recv")
    for p in producers if producers is not None else list(room.producers.values()):
        await transport.consume(p, layer=layer)
    sub = Subscriber()
    await sub.connect(transport)
    return sub, transport


async def test_relays_to_ten_subscribers_without_decoding_or_encoding(clips, media_settings):
    calls: list[str] = []

    def forbid(name: str):
        def boom(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} must not run on the relay path")

        return boom

    targets = [
        (receiver_mod, "decoder_worker"),
        (receiver_mod, "get_decoder"),
        (sender_mod, "get_encoder"),
        (codecs_pkg, "get_decoder"),
        (codecs_pkg, "get_encoder"),
    ]
    patches = [mock.patch.object(m, n, forbid(n)) for m, n in targets]
    for cls in (
        vpx_mod.Vp8Decoder, vpx_mod.Vp8Encoder, h264_mod.H264Decoder,
        h264_mod.H264Encoder, opus_mod.OpusDecoder, opus_mod.OpusEncoder,
    ):
        patches.append(mock.patch.object(cls, "__init__", forbid(f"{cls.__name__}.__init__")))
        for meth in ("decode", "encode"):
            if hasattr(cls, meth):
                patches.append(mock.patch.object(cls, meth, forbid(f"{cls.__name__}.{meth}")))
    for p in patches:
        p.start()
    worker = Worker(media_settings)
    try:
        room = worker.create_room("lesson")
        pub = await publish(
            room.create_transport("teacher", "send"),
            [(clips["vp8"], TrackInfo("camera")), (clips["opus"], TrackInfo("mic"))],
        )
        subs = [(await _subscribe(room, f"class{i}"))[0] for i in range(10)]
        ok = await wait_for(
            lambda: all(s.count("video") >= 30 and s.count("audio") >= 40 for s in subs), 8
        )
        counts = [(s.count("video"), s.count("audio")) for s in subs]
        threads = [t.name for t in __import__("threading").enumerate() if "decoder" in t.name]
        for s in subs:
            await s.close()
        await pub.close()
    finally:
        await worker.close()
        for p in patches:
            p.stop()
    assert ok, counts
    assert calls == []
    assert threads == []


async def test_late_joiner_gets_cached_keyframe(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(room.create_transport("teacher", "send"), [(clips["vp8"], TrackInfo())])
    producer = next(iter(room.producers.values()))
    # join in the middle of a GOP: the cache holds a keyframe and some deltas
    assert await wait_for(lambda: producer.keyframes_received >= 1 and len(producer.cache) > 3, 5)
    sub, _ = await _subscribe(room, "late")
    assert await wait_for(lambda: sub.count("video") >= 1, 3)
    first = sub.of_kind("video")[0]
    assert sub.connected_at is not None
    # the first frame is a keyframe and decodes on the subscriber side
    decoder = av.CodecContext.create("libvpx", "r")
    frames = decoder.decode(av.Packet(first.data))
    await sub.close()
    await pub.close()
    await worker.close()
    assert first.key
    assert frames and frames[0].width == 320
    # How fast it arrives is measured by `tongbu bench`, not asserted here.


async def test_stalled_subscriber_does_not_slow_others(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(
        room.create_transport("teacher", "send"),
        [(clips["vp8"], TrackInfo("camera")), (clips["opus"], TrackInfo("mic"))],
    )
    healthy = [(await _subscribe(room, f"ok{i}"))[0] for i in range(2)]
    stalled, st = await _subscribe(room, "stalled")
    video = next(c for c in st.consumers.values() if c.kind == "video")
    audio = next(c for c in st.consumers.values() if c.kind == "audio")
    video._start()  # accept frames, then never let the sender read them

    async def never() -> av.Packet:
        await asyncio.Event().wait()
        raise AssertionError

    video.track.recv = never  # type: ignore[method-assign]
    producer = next(p for p in room.producers.values() if p.kind == "video")
    assert await wait_for(lambda: all(s.count("video") > 0 for s in healthy), 10)
    got_before, sent_before = [s.count("video") for s in healthy], producer.frames
    await asyncio.sleep(2.5)
    forwarded = producer.frames - sent_before
    counts = [s.count("video") - b for s, b in zip(healthy, got_before, strict=True)]
    stalled_audio = stalled.count("audio")
    healthy_audio = healthy[0].count("audio")
    v_stats, a_stats = video.stats(), audio.stats()
    for s in [*healthy, stalled]:
        await s.close()
    await pub.close()
    await worker.close()
    # the others get every frame the producer got meanwhile (give or take those in flight)
    assert forwarded > 30 and all(c >= forwarded - 3 for c in counts), (forwarded, counts)
    assert v_stats["frames_dropped"] > 0
    assert v_stats["queued"] <= media_settings.consumer_video_queue
    assert a_stats["frames_dropped"] == 0
    assert stalled_audio >= 0.8 * healthy_audio > 0


async def test_forwards_h264_and_opus(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(
        room.create_transport("teacher", "send"),
        [(clips["h264"], TrackInfo("camera")), (clips["opus"], TrackInfo("mic"))],
    )
    codecs = sorted(p.codec for p in room.producers.values())
    sub, _ = await _subscribe(room, "class")
    assert await wait_for(lambda: sub.count("video") >= 20 and sub.count("audio") >= 20, 6)
    video = sub.of_kind("video")
    fmtp = [c.parameters for tr in sub.pc.getTransceivers() for c in tr._codecs
            if c.mimeType == "video/H264"]
    await sub.close()
    await pub.close()
    await worker.close()
    assert codecs == ["audio/opus", "video/H264"]
    assert video[0].key
    assert fmtp and str(fmtp[0]["packetization-mode"]) == "1"
    assert fmtp[0]["profile-level-id"] == "42e01f"


async def test_layer_switch_happens_at_keyframe(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(
        room.create_transport("teacher", "send"),
        [(clips["vp8"], TrackInfo("camera", "high")), (clips["vp8"], TrackInfo("camera", "low"))],
    )
    high = next(p for p in room.producers.values() if p.layer == "high")
    sub, t = await _subscribe(room, "class", producers=[high])
    consumer = next(iter(t.consumers.values()))
    changes: list[str] = []
    consumer.on("layerschange", changes.append)
    assert await wait_for(lambda: sub.count("video") >= 10, 5)
    consumer.set_preferred_layer("low")
    assert await wait_for(lambda: consumer.layer == "low", 3)
    n = sub.count("video")
    assert await wait_for(lambda: sub.count("video") >= n + 10, 3)
    frames = sub.of_kind("video")
    stamps = [f.timestamp for f in frames]
    await sub.close()
    await pub.close()
    await worker.close()
    assert changes == ["high", "low"]
    assert consumer.stats()["layer_switches"] == 1
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


async def test_room_close_leaves_no_tasks_or_transports(clips, media_settings):
    baseline = set(asyncio.all_tasks())
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(room.create_transport("teacher", "send"), [(clips["vp8"], TrackInfo())])
    sub, _ = await _subscribe(room, "class")
    assert await wait_for(lambda: sub.count("video") >= 5, 5)
    transports = list(room.transports.values())
    closed: list[str] = []
    room.on("close", closed.append)
    await room.close()
    await room.close()  # idempotent
    await sub.close()
    await pub.close()
    await worker.close()
    leftover = await _settle(baseline)
    assert closed == ["room_closed"]
    assert worker.rooms == {} and room.transports == {} and room.producers == {}
    assert all(t.closed and t.pc.connectionState == "closed" for t in transports)
    assert leftover == [], leftover


async def _settle(baseline: set) -> list:
    deadline = time.monotonic() + 3
    while True:
        extra = [t for t in asyncio.all_tasks() - baseline
                 if t is not asyncio.current_task() and not t.done()]
        if not extra or time.monotonic() > deadline:
            return extra
        await asyncio.sleep(0.05)


async def test_garbage_sdp_is_a_bad_request_and_the_room_lives_on(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(room.create_transport("teacher", "send"), [(clips["vp8"], TrackInfo())])
    sub, _ = await _subscribe(room, "class")
    bad = room.create_transport("mallory", "send")
    with pytest.raises(BadRequest):
        await bad.apply_offer("v=0\r\nthis is not sdp\r\nm=video x\r\n", {})
    with pytest.raises(BadRequest):
        await bad.apply_offer("", {})
    n = sub.count("video")
    ok = await wait_for(lambda: sub.count("video") >= n + 15, 3)
    await sub.close()
    await pub.close()
    await worker.close()
    assert ok
    assert len(room.producers) == 0  # closed with the worker; none came from garbage


async def test_consumer_of_closed_producer_emits_producerclose(clips, media_settings):
    worker = Worker(media_settings)
    room = worker.create_room("lesson")
    pub = await publish(room.create_transport("teacher", "send"), [(clips["vp8"], TrackInfo())])
    producer = next(iter(room.producers.values()))
    sub, t = await _subscribe(room, "class")
    consumer = next(iter(t.consumers.values()))
    events: list[str] = []
    consumer.on("producerclose", lambda: events.append("producerclose"))
    room.on("producerclose", lambda p: events.append(f"room:{p.id}"))
    await producer.close()
    assert sorted(events) == ["producerclose", f"room:{producer.id}"]
    assert consumer.closed and t.consumers == {} and room.producers == {}
    await sub.close()
    await pub.close()
    await worker.close()
