"""A looping source of pre-encoded packets, paced in real time.

aiortc's `MediaPlayer(decode=False)` restarts pts at 0 when it loops, which a
receiver sees as a clock jump; this source keeps pts monotonic across loops and
records when each frame was handed to the sender (for latency measurement).
"""

from __future__ import annotations

import asyncio
import fractions
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


@dataclass
class _Clip:
    packets: list[tuple[int, bytes, bool]]  # pts (in clock units), payload, keyframe
    duration: int  # clock units of one loop
    clock_rate: int


def load_clip(path: Path, kind: str) -> _Clip:
    """Demux every packet of the first `kind` stream into memory, pts in RTP clock units."""
    clock_rate = 90000 if kind == "video" else 48000
    out: list[tuple[int, bytes, bool]] = []
    with av.open(path.as_posix()) as container:
        stream = next(s for s in container.streams if s.type == kind)
        tb = stream.time_base
        assert tb is not None
        first: int | None = None
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            if first is None:
                first = packet.pts
            pts = int((packet.pts - first) * tb * clock_rate)
            out.append((pts, bytes(packet), bool(packet.is_keyframe)))
    out.sort(key=lambda p: p[0])
    step = out[1][0] - out[0][0] if len(out) > 1 else clock_rate // 30
    return _Clip(out, out[-1][0] + step, clock_rate)


@dataclass
class SendLog:
    """When each payload left the source: (payload hash, monotonic seconds), in order.

    A looping clip repeats its payloads, so a receiver matches a hash with the
    latest send before it arrived, not with a single entry per hash.
    """

    sends: list[tuple[int, float]] = field(default_factory=list)

    def record(self, data: bytes) -> None:
        self.sends.append((payload_key(data), time.monotonic()))


def payload_key(data: bytes) -> int:
    """A hash of a payload that is the same in every process (`hash()` is salted per process)."""
    return zlib.crc32(data) << 24 | (len(data) & 0xFFFFFF)


class LoopingPacketTrack(MediaStreamTrack):
    """Yields `av.Packet`s of a pre-encoded clip forever, at the clip's real-time pace.

    Like a camera's encoder it answers a keyframe request (`request_keyframe`, wired
    to the sender's PLI/FIR by `answer_keyframe_requests`): the next packet it sends
    is the clip's next keyframe, so a subscriber that asked does not wait for the
    clip's own keyframe interval. The timeline (pts, pacing) is unaffected: the clip
    is skipped ahead, time is not.
    """

    def __init__(self, path: Path, kind: str, log: SendLog | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._clip = load_clip(path, kind)
        self._index = 0
        self._sent = 0
        self._step = max(1, self._clip.duration // len(self._clip.packets))
        self._t0: float | None = None
        self._log = log
        self._time_base = fractions.Fraction(1, self._clip.clock_rate)
        self._want_keyframe = False
        self.keyframes_forced = 0

    def request_keyframe(self) -> None:
        self._want_keyframe = True

    def _skip_to_keyframe(self) -> None:
        packets = self._clip.packets
        for offset in range(len(packets)):
            i = (self._index + offset) % len(packets)
            if packets[i][2]:
                self._index = i
                self.keyframes_forced += 1
                return

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        clip = self._clip
        if self._want_keyframe:
            self._want_keyframe = False
            self._skip_to_keyframe()
        _pts, data, key = clip.packets[self._index]
        self._index = (self._index + 1) % len(clip.packets)
        pts = self._sent * self._step
        self._sent += 1
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + pts / clip.clock_rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(data)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = self._time_base
        packet.is_keyframe = key
        if self._log is not None:
            self._log.record(data)
        return packet


def answer_keyframe_requests(sender: Any, track: LoopingPacketTrack) -> None:
    """Route a sender's incoming PLI/FIR to the track (aiortc 1.16: `_send_keyframe` is what
    an RTCP PLI/FIR calls; with packets instead of frames it would only set an encoder flag)."""
    sender._send_keyframe = track.request_keyframe
