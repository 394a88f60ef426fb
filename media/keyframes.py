"""Keyframe requests (throttled) and the per-producer keyframe cache.

Why throttle: every consumer that joins or loses a packet wants a keyframe,
and a keyframe costs the publisher's uplink 5–10× a delta frame; on a village
link a storm of PLIs is itself what freezes the stream. So a producer sends at
most one PLI per ``interval``; a request that arrives inside the window is not
lost but coalesced into one PLI sent when the window ends.

Why cache: a consumer that joins between keyframes would otherwise wait for
the publisher to answer a PLI (an RTT plus an encode). The cache keeps the last
keyframe and the delta frames after it, so a new consumer is primed at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import av


class KeyframeRequester:
    """At most one ``send()`` per ``interval`` seconds; later requests are coalesced."""

    def __init__(
        self,
        send: Callable[[], bool],
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._send = send
        self.interval = interval
        self._clock = clock
        self._loop = loop
        self._last_sent: float | None = None
        self._pending: asyncio.TimerHandle | None = None
        self.requested = 0  # calls to request()
        self.sent = 0  # PLIs actually sent
        self.closed = False

    def request(self) -> bool:
        """Ask for a keyframe; True if a PLI went out now."""
        if self.closed:
            return False
        self.requested += 1
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self.interval:
            return self._fire(now)
        if self._pending is None:
            delay = self.interval - (now - self._last_sent)
            loop = self._loop or asyncio.get_running_loop()
            self._pending = loop.call_later(delay, self._fire_pending)
        return False

    def _fire_pending(self) -> None:
        self._pending = None
        if not self.closed:
            self._fire(self._clock())

    def _fire(self, now: float) -> bool:
        if not self._send():
            return False
        self._last_sent = now
        self.sent += 1
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        return True

    def close(self) -> None:
        self.closed = True
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class KeyframeCache:
    """The last keyframe and the delta frames after it, at most ``max_frames`` in all.

    If the GOP outgrows ``max_frames`` the cache empties (a partial GOP cannot
    be decoded) and refills at the next keyframe.
    """

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self._frames: list[av.Packet] = []

    def add(self, packet: av.Packet, keyframe: bool) -> None:
        if keyframe:
            self._frames = [packet]
        elif self._frames:
            if len(self._frames) >= self.max_frames:
                self._frames = []
            else:
                self._frames.append(packet)

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[av.Packet]:
        return iter(list(self._frames))

    def clear(self) -> None:
        self._frames = []
