"""Map each track's RTP clock onto the lesson timeline (lesson start = 0 ms).

DESIGN.md, "Time and synchronisation": every lesson has one timeline, the
server's clock at lesson start = 0. RTP timestamps of different tracks start at
random values and tick at different rates (90 kHz video, 48 kHz Opus), so the
only way to put audio and video of several classrooms side by side is a
per-track mapping RTP → wall clock.

Two sources, in order of preference:

* **RTCP sender reports** (RFC 3550 §6.4.1): each SR pairs an NTP wall-clock
  instant with the RTP timestamp that corresponds to it *at the sender*. The
  recorder subscribes through the SFU, so the SRs it sees are written by the
  SFU's sender on the server clock — exactly the lesson clock. This mapping
  does not include network or jitter-buffer delay, which differs between audio
  and video (a video frame waits for all its packets), so it keeps A/V in sync.
* **arrival time** of the first packet: always available, but biased by the
  receive path (typically tens of ms more for video than audio). Used only
  until the first SR arrives; the manifest says which source a mapping has.

Several SRs give a clock-skew estimate (least squares), so a sender whose
clock runs fast does not drift over a 45-minute lesson.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from recorder.manifest import ClockMapping, ClockSource

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
RTP_WRAP = 1 << 32
# A skew estimate is trusted only over this span of sender reports; shorter spans
# mostly measure send-time jitter, not the sender's clock rate.
MIN_SKEW_SPAN_S = 10.0
# Clocks of real devices are within ~100 ppm; beyond that the estimate is noise.
MAX_SKEW_PPM = 1000.0


def ntp_to_unix(ntp: int) -> float:
    """Convert a 64-bit NTP timestamp (32.32 fixed point since 1900) to Unix seconds."""
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / RTP_WRAP


def unix_to_ntp(unix: float) -> int:
    """Inverse of `ntp_to_unix`; used by tests and synthetic senders."""
    seconds = int(unix) + NTP_EPOCH_OFFSET
    frac = round((unix - int(unix)) * RTP_WRAP) & 0xFFFFFFFF
    return (seconds << 32) | frac


class LessonClock:
    """The lesson's zero: a UTC instant plus a monotonic anchor.

    Offsets for events use the monotonic clock so they never jump when NTP
    steps the wall clock; the UTC start is kept so SR wall-clock times (which
    are wall-clock by nature) can be placed on the same axis.
    """

    def __init__(self, start_unix: float | None = None) -> None:
        now_wall = time.time()
        elapsed = now_wall - start_unix if start_unix is not None else 0.0
        self._mono0 = time.monotonic() - elapsed
        self.start_unix = start_unix if start_unix is not None else now_wall

    @property
    def start_utc(self) -> datetime:
        return datetime.fromtimestamp(self.start_unix, UTC)

    def now_ms(self) -> float:
        """Milliseconds since lesson start on the monotonic clock."""
        return (time.monotonic() - self._mono0) * 1000.0

    def wall_to_ms(self, unix: float) -> float:
        """A wall-clock instant (arrival time, SR NTP time) in lesson milliseconds."""
        return (unix - self.start_unix) * 1000.0


class RtpUnwrapper:
    """Extend 32-bit RTP timestamps to a monotonic-ish 64-bit count.

    A 90 kHz clock wraps every 13 h, but RTP timestamps start at a random value,
    so a wrap can happen in any lesson. Differences of less than half the range
    are taken as the short way round (RFC 3550 A.1 does the same for seq numbers).
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._cycles = 0

    def extend(self, ts: int) -> int:
        ts &= 0xFFFFFFFF
        if self._last is None:
            self._last = ts
            return ts
        delta = (ts - self._last) & 0xFFFFFFFF
        if delta < RTP_WRAP // 2:
            if ts < self._last:
                self._cycles += 1
            self._last = ts
            return self._cycles * RTP_WRAP + ts
        # Backwards (reordered packet): place it in the cycle it belongs to, keep state.
        cycles = self._cycles - 1 if ts > self._last else self._cycles
        return cycles * RTP_WRAP + ts

    def peek(self, ts: int) -> int:
        """Extend without updating state (for SR timestamps that may lag packets)."""
        if self._last is None:
            return ts & 0xFFFFFFFF
        saved = (self._last, self._cycles)
        try:
            return self.extend(ts)
        finally:
            self._last, self._cycles = saved


@dataclass
class _SrPoint:
    rtp: int  # extended
    lesson_ms: float


@dataclass
class TrackTimeline:
    """One track's RTP → lesson mapping, refined as sender reports arrive."""

    clock: LessonClock
    clock_rate: int
    unwrapper: RtpUnwrapper = field(default_factory=RtpUnwrapper)
    _arrival: _SrPoint | None = None
    _srs: list[_SrPoint] = field(default_factory=list)

    def observe(self, rtp_ts: int, arrival_unix: float) -> int:
        """Record a received frame; returns its extended RTP timestamp."""
        ext = self.unwrapper.extend(rtp_ts)
        if self._arrival is None:
            self._arrival = _SrPoint(ext, self.clock.wall_to_ms(arrival_unix))
        return ext

    def on_sender_report(self, ntp: int | float, rtp_ts: int) -> bool:
        """Add an SR (ntp: 64-bit NTP int or Unix seconds float). True if the mapping changed."""
        unix = ntp_to_unix(ntp) if isinstance(ntp, int) else ntp
        ext = self.unwrapper.peek(rtp_ts)
        self._srs.append(_SrPoint(ext, self.clock.wall_to_ms(unix)))
        # Keep the window bounded; the first point anchors the skew estimate.
        if len(self._srs) > 64:
            del self._srs[1:2]
        return True

    @property
    def has_mapping(self) -> bool:
        return bool(self._srs) or self._arrival is not None

    def skew_ppm(self) -> float:
        """Sender clock rate error in ppm (positive: RTP clock runs fast), 0 if unknown."""
        if len(self._srs) < 2:
            return 0.0
        xs = [(p.rtp - self._srs[0].rtp) / self.clock_rate for p in self._srs]
        ys = [(p.lesson_ms - self._srs[0].lesson_ms) / 1000.0 for p in self._srs]
        if xs[-1] - xs[0] < MIN_SKEW_SPAN_S:
            return 0.0
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx == 0:
            return 0.0
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        # wall seconds per RTP second; RTP fast => slope < 1.
        ppm = (1.0 / slope - 1.0) * 1e6 if slope > 0 else 0.0
        return ppm if abs(ppm) <= MAX_SKEW_PPM else 0.0

    def mapping(self) -> ClockMapping:
        """The current mapping, for the manifest.

        With SRs, the anchor is the *latest* SR projected through the skew, so
        an error in one report does not persist; with arrivals only, it is the
        first packet's arrival.
        """
        if self._srs:
            skew = self.skew_ppm()
            if skew == 0.0:
                # Without a trusted rate, average the SR offsets: each SR has
                # independent send-time jitter, the mean converges.
                offsets = [p.lesson_ms - p.rtp * 1000.0 / self.clock_rate for p in self._srs]
                base = self._srs[-1].rtp
                ms = base * 1000.0 / self.clock_rate + sum(offsets) / len(offsets)
                return ClockMapping(
                    source=ClockSource.RTCP_SR, clock_rate=self.clock_rate,
                    rtp=base, lesson_ms=round(ms, 3), skew_ppm=0.0,
                    sender_reports=len(self._srs),
                )
            last = self._srs[-1]
            return ClockMapping(
                source=ClockSource.RTCP_SR, clock_rate=self.clock_rate, rtp=last.rtp,
                lesson_ms=round(last.lesson_ms, 3), skew_ppm=round(skew, 3),
                sender_reports=len(self._srs),
            )
        if self._arrival is None:
            raise ValueError("no packet and no sender report yet")
        return ClockMapping(
            source=ClockSource.ARRIVAL, clock_rate=self.clock_rate, rtp=self._arrival.rtp,
            lesson_ms=round(self._arrival.lesson_ms, 3), skew_ppm=0.0, sender_reports=0,
        )

    def to_lesson_ms(self, ext_rtp: int) -> float:
        return self.mapping().to_lesson_ms(ext_rtp)
