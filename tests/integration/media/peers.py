"""Real aiortc peers for the media tests, wired to Transports in-process (no signaling).

Publishers send pre-encoded packets (demuxed once from ffmpeg clips) through
media.passthrough's Packer, and subscribers count encoded frames through its
ReceiverTap: neither side ever instantiates an aiortc encoder or decoder, so a
test can make every codec class raise and still run both ends in one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender

from media.codecs import is_keyframe
from media.passthrough import Packer, ReceiverTap, SenderTap
from media.producer import TrackInfo
from media.transport import Transport


@dataclass
class Clip:
    mime: str
    clock_rate: int
    ticks: int  # RTP ticks per frame
    frames: list[bytes]


class PacketTrack(MediaStreamTrack):
    """Plays a clip's encoded frames in real time, looping; ``out_pts`` feeds the Packer."""

    def __init__(self, clip: Clip, *, loop: bool = True) -> None:
        super().__init__()
        self.kind = clip.mime.split("/")[0]
        self.clip = clip
        self.loop = loop
        self.index = 0
        self.out_pts = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._start is None:
            self._start = time.monotonic()
        n = self.index
        due = self._start + n * self.clip.ticks / self.clip.clock_rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frames = self.clip.frames
        data = frames[n % len(frames)]
        self.index += 1
        packet = av.Packet(data)
        packet.pts = n * self.clip.ticks
        packet.time_base = Fraction(1, self.clip.clock_rate)
        self.out_pts = packet.pts
        return packet


def _capabilities(mime: str) -> list:
    kind = mime.split("/")[0]
    caps = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == mime.lower()]
    if mime.lower() == "video/h264":
        chosen = [c for c in chosen if c.parameters.get("profile-level-id") == "42e01f"]
    return chosen[:1]


async def publish(
    transport: Transport, tracks: Sequence[tuple[Clip, TrackInfo]]
) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    infos: list[TrackInfo] = []
    taps = []
    for clip, info in tracks:
        track = PacketTrack(clip)
        t = pc.addTransceiver(track, direction="sendonly")
        t.setCodecPreferences(_capabilities(clip.mime))
        taps.append(
            SenderTap(
                t.sender,
                Packer(clip.mime, track),
                on_keyframe_request=lambda: None,
                on_report=lambda r: None,
                on_nack=lambda n: None,
            )
        )
        infos.append(info)
    pc._test_taps = taps  # type: ignore[attr-defined]
    await pc.setLocalDescription(await pc.createOffer())
    mids = {t.mid: info for t, info in zip(pc.getTransceivers(), infos, strict=True)}
    answer = await transport.apply_offer(pc.localDescription.sdp, mids)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


@dataclass
class Received:
    at: float
    data: bytes
    key: bool
    timestamp: int


@dataclass
class Subscriber:
    """A subscribing peer that counts encoded frames per mid (never decodes)."""

    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    frames: dict[str, list[Received]] = field(default_factory=dict)
    mimes: dict[str, str] = field(default_factory=dict)
    taps: dict[str, ReceiverTap] = field(default_factory=dict)
    connected_at: float | None = None

    async def connect(self, transport: Transport) -> None:
        """One offer/answer round with the server's recv transport."""
        offer = await transport.create_offer()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for t in self.pc.getTransceivers():
            if t.mid in self.taps or t.receiver.track is None:
                continue
            codecs = [c for c in t._codecs if not c.mimeType.lower().endswith("/rtx")]
            mime = codecs[0].mimeType.lower()
            self.mimes[t.mid] = mime
            self.frames[t.mid] = []
            tap = ReceiverTap(t.receiver)
            tap.bind(
                lambda codec, data, ts, mid=t.mid, mime=mime: self.frames[mid].append(
                    Received(time.monotonic(), data, is_keyframe(mime, data), ts)
                ),
                lambda: None,
            )
            self.taps[t.mid] = tap
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await transport.apply_answer(self.pc.localDescription.sdp)

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.pc.connectionState == "connected" and self.connected_at is None:
                self.connected_at = time.monotonic()

    def count(self, kind: str | None = None) -> int:
        return sum(
            len(v)
            for mid, v in self.frames.items()
            if kind is None or self.mimes[mid].startswith(kind)
        )

    def of_kind(self, kind: str) -> list[Received]:
        out: list[Received] = []
        for mid, v in self.frames.items():
            if self.mimes[mid].startswith(kind):
                out += v
        return out

    async def close(self) -> None:
        for tap in self.taps.values():
            tap.detach()
        await self.pc.close()


async def wait_for(predicate, within: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
