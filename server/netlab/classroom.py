"""A receiving classroom as a process: `python -m server.netlab.classroom URL TOKEN`.

Run inside a `School` namespace (`school.spawn(...)`), it joins with a
`TongbuClient` (no decoding: it taps encoded frames as the recorder does),
subscribes to everything it is given, and after ``--seconds`` prints one JSON
line: per producer its kind and the monotonic arrival time of every frame.
CLOCK_MONOTONIC is shared by all namespaces of the machine, so the parent can
line these times up with the cuts it made.

Only frames a decoder could show are counted. aiortc's video ``JitterBuffer``
waits for a missing packet until 128 newer ones arrived (seconds on a low
layer), which no browser does; ``PlayableJitterBuffer`` gives a missing packet
``wait`` seconds to be retransmitted, then skips to the next frame start and
drops every frame until the next keyframe (they would not decode), as a
browser's VP8 decoder has to.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import typer
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from clients.python.client import ReceivedFrame, TongbuClient

_JB = "_RTCRtpReceiver__jitter_buffer"  # aiortc 1.16 private attribute


def _vp8_frame_start(payload: bytes) -> bool:
    """RFC 7741 §4.2: S bit set and partition index 0 in the payload descriptor."""
    return bool(payload) and (payload[0] & 0x17) == 0x10


class PlayableJitterBuffer(JitterBuffer):
    """A VP8 jitter buffer that gives up on a lost packet after ``wait`` seconds."""

    def __init__(self, wait: float = 0.5) -> None:
        super().__init__(capacity=128, is_video=True)
        self.wait = wait
        self.broken = False
        self.skips = 0
        self.undecodable = 0
        self._hole_since: float | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        origin = self._origin
        if origin is not None and packet.sequence_number != origin:
            if self._packets[origin % self.capacity] is None and any(self._packets):
                now = time.monotonic()
                if self._hole_since is None:
                    self._hole_since = now
                elif now - self._hole_since > self.wait:
                    self._skip()
            else:
                self._hole_since = None
        pli, frame = super().add(packet)
        if frame is not None:
            if frame.data and (frame.data[0] & 0x01) == 0:  # VP8 keyframe
                self.broken = False
            elif self.broken:
                self.undecodable += 1
                return pli, None
        return pli, frame

    def _skip(self) -> None:
        """Drop the hole and what follows up to the next frame start."""
        assert self._origin is not None
        for _ in range(self.capacity):
            packet = self._packets[self._origin % self.capacity]
            if packet is not None and _vp8_frame_start(packet.payload):
                break
            self.remove(1)
        self.broken = True
        self.skips += 1
        self._hole_since = None


class Classroom(TongbuClient):
    """A TongbuClient whose video receivers use ``PlayableJitterBuffer``."""

    def _on_track(self, track: Any) -> None:
        super()._on_track(track)
        pc = self._recv_pc
        for transceiver in pc.getTransceivers() if pc else []:
            receiver = transceiver.receiver
            if receiver.track is track and track.kind == "video":
                setattr(receiver, _JB, PlayableJitterBuffer())


async def attend(url: str, token: str, seconds: float, reconnect: bool) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    client = Classroom(url, token, decode=False, request_timeout=20.0, reconnect=reconnect)

    @client.on_frame
    def on_frame(frame: ReceivedFrame) -> None:
        arrivals.setdefault(frame.producer_id, []).append(frame.received_at)
        kinds[frame.producer_id] = frame.kind

    started = time.monotonic()
    joined_at: float | None = None
    error = None
    try:
        await client.join()
        joined_at = time.monotonic()
        await asyncio.sleep(max(seconds - (joined_at - started), 0))
    except Exception as exc:  # reported, not raised: the parent decides
        error = f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return {
        "started": started,
        "joined": joined_at,
        "ended": time.monotonic(),
        "error": error,
        "participant_id": client.participant_id,
        "streams": {pid: {"kind": kinds[pid], "arrivals": t} for pid, t in arrivals.items()},
    }


def main(
    url: str,
    token: str,
    seconds: float = typer.Option(10.0),
    reconnect: bool = typer.Option(True),
) -> None:
    report = asyncio.run(attend(url, token, seconds, reconnect))
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    typer.run(main)
