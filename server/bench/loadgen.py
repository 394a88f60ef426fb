"""Load generator processes of `tongbu bench fanout`: one publisher, many subscribers.

Why separate processes: the server's CPU is measured per process, and the
publisher's pacing must not suffer from the subscribers' receive work; the
orchestrator (server/bench/fanout.py) starts the server, then
`python -m server.bench.loadgen publish …` and `… subscribe …`, and reads one
JSON document from the subscriber process's stdout.

Both the SFU (Tongbu's signaling + `TongbuClient`) and the baseline (plain
aiortc peer connections against `MediaRelay`) are driven here, with the same
pre-encoded clip and the same receive path: every subscriber taps its receivers
with `media.passthrough.ReceiverTap`, so the subscribers never decode and their
cost is the same for both servers.

Time: `time.monotonic()` is CLOCK_MONOTONIC, shared by every process of the
machine, so the publisher's send log and the subscribers' receive log compare
directly (latency), and the measurement window can be matched with the
server's CPU samples taken by the orchestrator.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from clients.python import PublishTrack, TongbuClient
from media.passthrough import ReceiverTap
from server.bench.source import (
    LoopingPacketTrack,
    SendLog,
    answer_keyframe_requests,
    payload_key,
)
from server.tokens import RoomRole, issue_room_token

ROOM = "bench-fanout"


def _token(secret: str, identity: str, role: RoomRole) -> str:
    return issue_room_token(
        secret, room=ROOM, identity=identity, role=role, ttl=3600, name=identity
    )


# ---------------------------------------------------------------- publisher


async def _write_sendlog(log: SendLog, path: Path, stop: asyncio.Event) -> None:
    """Append (payload hash, send time) lines twice a second until stopped."""
    written = 0
    with path.open("a") as out:
        while True:
            sends = log.sends[written:]
            out.writelines(f"{h}\t{t:.6f}\n" for h, t in sends)
            written += len(sends)
            out.flush()
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass


def _tracks(clip: Path, log: SendLog) -> tuple[LoopingPacketTrack, LoopingPacketTrack]:
    return LoopingPacketTrack(clip, "video", log), LoopingPacketTrack(clip, "audio")


async def publish_sfu(
    url: str, secret: str, clip: Path, sendlog: Path, stop: asyncio.Event
) -> None:
    log = SendLog()
    video, audio = _tracks(clip, log)
    async with TongbuClient(url, _token(secret, "teacher", RoomRole.TEACHER), decode=False) as c:
        await c.publish(
            [
                PublishTrack(video, "camera", "high", "video/VP8"),
                PublishTrack(audio, "mic", "high", "audio/opus"),
            ]
        )
        for transceiver, spec in c._send_tracks:
            if spec.track is video:
                answer_keyframe_requests(transceiver.sender, video)
        await _write_sendlog(log, sendlog, stop)


def _prefer(pc: RTCPeerConnection, transceiver: Any, mime: str) -> None:
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == mime])


async def publish_baseline(base: str, clip: Path, sendlog: Path, stop: asyncio.Event) -> None:
    log = SendLog()
    video, audio = _tracks(clip, log)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video_transceiver = pc.addTransceiver(video, direction="sendonly")
    _prefer(pc, video_transceiver, "video/vp8")
    answer_keyframe_requests(video_transceiver.sender, video)
    _prefer(pc, pc.addTransceiver(audio, direction="sendonly"), "audio/opus")
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=30) as http:
        reply = (await http.post(f"{base}/publish", json={"sdp": pc.localDescription.sdp})).json()
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], reply["type"]))
    try:
        await _write_sendlog(log, sendlog, stop)
    finally:
        await pc.close()


# ---------------------------------------------------------------- subscribers


@dataclass
class Receiver:
    """What one subscriber saw: frame times per kind, video payload hashes."""

    video: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)
    hashes: list[tuple[int, float]] = field(default_factory=list)
    first_keyframe: bool | None = None
    ice_connected_at: float | None = None
    record_hashes: bool = False

    def on_frame(self, kind: str, data: bytes) -> None:
        now = time.monotonic()
        if kind == "video":
            if self.first_keyframe is None:
                self.first_keyframe = bool(data) and (data[0] & 0x01) == 0
            self.video.append(now)
            if self.record_hashes:
                self.hashes.append((payload_key(data), now))
        else:
            self.audio.append(now)


class SfuSubscriber:
    def __init__(self, url: str, secret: str, name: str) -> None:
        self.rx = Receiver()
        self.client = TongbuClient(url, _token(secret, name, RoomRole.CLASSROOM), decode=False)
        self.client.on_frame(self._frame)

    def _frame(self, frame: Any) -> None:
        self.rx.on_frame(frame.kind, frame.data or b"")

    async def start(self) -> None:
        await self.client.join()
        asyncio.get_running_loop().create_task(self._watch_ice())

    async def _watch_ice(self) -> None:
        while self.rx.ice_connected_at is None:
            pc = self.client._recv_pc
            if pc is not None and pc.iceConnectionState in ("connected", "completed"):
                self.rx.ice_connected_at = time.monotonic()
                return
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        await self.client.close()


class BaselineSubscriber:
    def __init__(self, base: str) -> None:
        self.base = base
        self.rx = Receiver()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._taps: list[ReceiverTap] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
            tap = ReceiverTap(transceiver.receiver)
            kind = track.kind
            tap.bind(lambda codec, data, ts: self.rx.on_frame(kind, data), lambda: None)
            self._taps.append(tap)

        @self.pc.on("iceconnectionstatechange")
        def on_ice() -> None:
            if self.pc.iceConnectionState in ("connected", "completed"):
                self.rx.ice_connected_at = self.rx.ice_connected_at or time.monotonic()

    async def start(self) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with httpx.AsyncClient(timeout=30) as http:
            offer = {"sdp": self.pc.localDescription.sdp}
            reply = await http.post(f"{self.base}/subscribe", json=offer)
        reply.raise_for_status()
        answer = reply.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def stop(self) -> None:
        for tap in self._taps:
            tap.detach()
        await self.pc.close()


Factory = Callable[[int], Any]


async def _wait(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _late_join(make: Factory, index: int) -> dict[str, Any]:
    sub = make(index)
    started = time.monotonic()
    await sub.start()
    ok = await _wait(lambda: bool(sub.rx.video), 10)
    result: dict[str, Any] = {"ok": ok}
    if ok:
        first = sub.rx.video[0]
        result["from_join_ms"] = (first - started) * 1000
        if sub.rx.ice_connected_at is not None:
            result["from_ice_ms"] = (first - sub.rx.ice_connected_at) * 1000
        result["first_is_keyframe"] = sub.rx.first_keyframe
    await sub.stop()
    return result


async def subscribe(
    make: Factory, count: int, warmup: float, duration: float, late_joins: int
) -> dict[str, Any]:
    """Join `count` subscribers, measure one window, then time a few late joiners."""
    subs = [make(i) for i in range(count)]
    for batch in range(0, count, 5):  # a few at a time: ICE on a busy loop is slow
        await asyncio.gather(*(s.start() for s in subs[batch : batch + 5]))
    all_flowing = await _wait(lambda: all(s.rx.video and s.rx.audio for s in subs), 60)
    await asyncio.sleep(warmup)
    for s in subs:
        s.rx.record_hashes = True
    t0 = time.monotonic()
    await asyncio.sleep(duration)
    t1 = time.monotonic()
    for s in subs:
        s.rx.record_hashes = False
    late = [await _late_join(make, count + i) for i in range(late_joins)]
    per_sub = []
    for s in subs:
        video = [t for t in s.rx.video if t0 <= t < t1]
        audio = [t for t in s.rx.audio if t0 <= t < t1]
        gaps = [b - a for a, b in itertools.pairwise(video)]
        per_sub.append(
            {
                "video_fps": len(video) / (t1 - t0),
                "audio_fps": len(audio) / (t1 - t0),
                "max_video_gap_ms": max(gaps, default=0.0) * 1000,
                "hashes": [(h, t) for h, t in s.rx.hashes if t0 <= t < t1],
            }
        )
    for s in subs:
        await s.stop()
    return {"window": [t0, t1], "all_flowing": all_flowing, "subscribers": per_sub, "late": late}


# ---------------------------------------------------------------- entry point


async def _until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bench.loadgen")
    parser.add_argument("role", choices=["publish", "subscribe"])
    parser.add_argument("--mode", choices=["sfu", "baseline"], required=True)
    parser.add_argument("--url", required=True, help="ws://…/ws (sfu) or http://… (baseline)")
    parser.add_argument("--secret", default="", help="token secret of the SFU server")
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--sendlog", type=Path)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--late-joins", type=int, default=3)
    parser.add_argument("--first-index", type=int, default=0, help="names of this process's subs")
    args = parser.parse_args(argv)

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass

    if args.role == "publish":
        assert args.clip is not None and args.sendlog is not None
        if args.mode == "sfu":
            asyncio.run(
                _until_signalled(
                    lambda stop: publish_sfu(args.url, args.secret, args.clip, args.sendlog, stop)
                )
            )
        else:
            asyncio.run(
                _until_signalled(
                    lambda stop: publish_baseline(args.url, args.clip, args.sendlog, stop)
                )
            )
        return

    def make(i: int) -> Any:
        if args.mode == "sfu":
            return SfuSubscriber(args.url, args.secret, f"classroom-{args.first_index + i}")
        return BaselineSubscriber(args.url)

    result = asyncio.run(subscribe(make, args.count, args.warmup, args.duration, args.late_joins))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
