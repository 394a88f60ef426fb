"""How much a consumer's downlink can carry, which video layer fits it, and how
much of it retransmissions may take.

Why: a village link (1 Mbps, 5% loss, 200 ms RTT) fed the high layer plus its
NACK retransmissions freezes for seconds (docs/village-links.md). The
loss/RTT rule in ``media.layers`` notices a link that is already failing; this
module adds the bandwidth view, fed by the same receiver reports:

- ``BandwidthEstimator``: a loss-based controller in the style of Google
  Congestion Control (draft-ietf-rmcat-gcc §6: grow 8% per report below a
  low loss, hold in between, cut by half the loss above a high loss). GCC's
  2%/10% thresholds assume loss means congestion; a village link loses 2–5%
  at random, so here the thresholds are 10%/15% and a cut also needs the
  smoothed loss above 10% (one unlucky report on a random-loss link is not
  congestion): random loss alone neither shrinks the estimate nor blocks
  moving up. A cut starts from what is actually sent (GCC's As ≈ send rate
  under congestion), so a high start value does not delay it. Congestion is
  also recognised by a coarse delay signal (RTT grown ≥ 250 ms over its minimum means a
  queue is building: cut to 85% of what we send). A receiver's REMB (aiortc
  and Chromium's legacy path send it) is used as an overuse signal only: below
  85% of what we send, it caps the estimate. As a plain cap it would pin the
  estimate near the rate already sent and the consumer could never move up.
  The first report after a silence (no report for ``silence`` seconds: the
  link was cut) says nothing about congestion and does not cut the estimate.
- ``choose_layer``: the highest layer whose measured bitrate plus an audio
  reserve fits the estimate with headroom; ``None`` (audio only) when even the
  low layer does not fit. Down one step after two reports that do not fit
  (high → low → audio only); up only when
  the next layer has fitted with extra headroom for ``hold`` seconds, and the
  hold doubles (to a limit) each time an up-switch had to be undone within
  ``2 * hold`` — a link that cannot carry the high layer stops being probed
  every few seconds.
- ``RetransmitGate``: NACK-driven retransmissions get a token bucket of
  ``rtx_share`` of the estimate and each packet is resent at most twice and
  not again within one RTT, so a NACK storm cannot fill a thin link.

Pure logic except ``RetransmitGate.install``, which wraps one aiortc 1.16
seam: ``RTCRtpSender._retransmit(sequence_number)`` (checked by
tests/unit/media/test_bwe.py), replaced on the instance.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aiortc.rtcrtpsender import RTP_HISTORY_SIZE

Layer = Literal["high", "low"]
Allowed = Layer | None  # None: audio only
ORDER: tuple[Allowed, ...] = (None, "low", "high")

_S = "_RTCRtpSender__"  # aiortc 1.16 private attribute prefix (name mangling)


@dataclass(frozen=True)
class BweParams:
    start_bps: float = 2_000_000
    min_bps: float = 30_000
    max_bps: float = 20_000_000
    loss_low: float = 0.10
    loss_high: float = 0.15
    loss_smoothing: float = 0.4  # weight of the newest report in the smoothed loss
    clean_loss: float = 0.01  # below this (report and smoothed) the link carries what is sent
    increase: float = 1.08
    queue_rtt: float = 0.25  # RTT this far above its minimum: a queue builds up
    silence: float = 3.0  # no report for this long: the link was down, not congested
    # after a cut, the next reports still describe the traffic before it (and the queue
    # it left): no further cut for this long
    cut_holdoff: float = 2.0
    audio_reserve_bps: float = 64_000  # kept free for the peer's audio
    headroom: float = 1.15  # a layer fits when estimate >= (rate + audio) * headroom
    up_headroom: float = 1.4  # ... and may be moved up to at this margin
    bad_reports_to_down: int = 2
    hold: float = 4.0  # settings.layer_switch_hold
    max_hold: float = 60.0
    rtx_share: float = 0.2  # share of the estimate retransmissions may use


class RateMeter:
    """Bytes over a sliding window, as bits per second."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._first: float | None = None

    def add(self, at: float, nbytes: int) -> None:
        if self._first is None:
            self._first = at
        self._samples.append((at, nbytes))
        self._bytes += nbytes
        self._trim(at)

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.window:
            self._bytes -= self._samples.popleft()[1]

    def bps(self, now: float) -> float | None:
        """None until half a second of history exists (no guess from one frame)."""
        if self._first is None or now - self._first < 0.5:
            return None
        self._trim(now)
        return self._bytes * 8 / min(self.window, now - self._first)


class BandwidthEstimator:
    """One downlink's available bitrate from receiver reports (and REMB)."""

    def __init__(self, params: BweParams | None = None) -> None:
        self.params = params or BweParams()
        self.loss_based = self.params.start_bps
        self.remb: float | None = None
        self.min_rtt: float | None = None
        self.reports = 0
        self.last_report_at: float | None = None
        self.loss: float | None = None  # smoothed
        self._cut_at: float | None = None
        self._queue_streak = 0

    @property
    def estimate(self) -> float:
        return max(self.params.min_bps, self.loss_based)

    def on_remb(self, bps: float) -> None:
        self.remb = bps if bps > 0 else None

    def on_report(
        self, loss: float, sending_bps: float, rtt: float | None, at: float | None = None
    ) -> float:
        """One RTCP receiver report: fraction lost since the last one, our send rate, RTT."""
        p = self.params
        self.reports += 1
        if at is not None:
            last, self.last_report_at = self.last_report_at, at
            if last is not None and at - last >= p.silence:
                return self.estimate  # back from a cut: its loss is not congestion
        remb_caps = self.remb is not None and sending_bps > 0 and self.remb < 0.85 * sending_bps
        if remb_caps:
            assert self.remb is not None
            self.loss_based = max(min(self.loss_based, self.remb), p.min_bps)
        queue = False
        if rtt is not None:
            self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
            # two reports in a row: one late report is a scheduling hiccup, not a queue
            self._queue_streak = self._queue_streak + 1 if rtt - self.min_rtt >= p.queue_rtt else 0
            queue = self._queue_streak >= 2
        a = p.loss_smoothing
        raw = loss
        loss = loss if self.loss is None else a * loss + (1 - a) * self.loss
        self.loss = loss
        est = self.loss_based
        now = at if at is not None else time.monotonic()
        settling = self._cut_at is not None and now - self._cut_at < p.cut_holdoff
        if settling and (queue or raw > p.loss_low):
            pass  # still the traffic from before the last cut
        elif queue:
            if sending_bps > 0:
                est = min(est, sending_bps * 0.85)
                self._cut_at = now
        elif raw > p.loss_high and loss > p.loss_low:
            base = min(est, sending_bps) if sending_bps > 0 else est
            est = base * (1 - 0.5 * raw)
            self._cut_at = now
        elif raw < p.loss_low:
            # grow, but not far past what is actually sent (no meaningless 20 Mbit/s numbers)
            est = min(est * p.increase, max(est, 2 * sending_bps, p.start_bps))
            if not remb_caps and raw < p.clean_loss and loss < p.clean_loss:
                # No loss, no queue, no REMB below what we send: the link carries what we
                # send, so the estimate is at least that (with the fit margin). Otherwise a
                # layer above the start value (720p with keyframe bursts) would be judged
                # "not fitting" on a clean LAN and the consumer dropped to audio only.
                est = max(est, (sending_bps + p.audio_reserve_bps) * p.headroom)
        self.loss_based = min(max(est, p.min_bps), p.max_bps)
        return self.estimate


@dataclass(frozen=True)
class ChoiceState:
    allowed: Allowed = "high"
    since: float = 0.0  # when ``allowed`` last changed
    bad_streak: int = 0
    fits_up_since: float | None = None
    hold: float = 4.0  # current up-hold (doubles after a failed probe)
    last_up: float | None = None


def _index(layer: Allowed) -> int:
    return ORDER.index(layer)


def fits(layer: Allowed, estimate: float, rates: dict[str, float | None], p: BweParams, *,
         margin: float) -> bool:  # fmt: skip
    """Whether ``layer`` (with the audio reserve) fits ``estimate``; unknown rates fit."""
    if layer is None:
        return True
    rate = rates.get(layer)
    if rate is None:
        return True
    return estimate >= (rate + p.audio_reserve_bps) * margin


def choose_layer(
    state: ChoiceState,
    at: float,
    estimate: float,
    rates: dict[str, float | None],
    p: BweParams,
    *,
    lossy: bool = True,
) -> ChoiceState:
    """Next state for one report; ``result.allowed`` is the highest layer allowed.

    ``lossy``: the link really loses packets. Video stops (audio only) only then: a
    late RTT alone (a busy machine, a slow client loop) can move a consumer down to
    the low layer but never takes its picture away.
    """
    available = [layer for layer in ORDER if layer is None or layer in rates]
    current = state.allowed if state.allowed in available else available[-1]
    if not fits(current, estimate, rates, p, margin=p.headroom):
        streak = state.bad_streak + 1
        if streak < p.bad_reports_to_down:
            return replace(state, allowed=current, bad_streak=streak, fits_up_since=None)
        # one step at a time: right after a switch the reports still carry the old
        # layer's losses, so only a layer that failed on its own goes to audio only
        lower = [lay for lay in available if _index(lay) < _index(current)]
        best: Allowed = lower[-1] if lower else None
        if best is None and not lossy:
            return replace(state, allowed=current, bad_streak=0, fits_up_since=None)
        hold = state.hold
        if state.last_up is not None and at - state.last_up <= 2 * state.hold:
            hold = min(state.hold * 2, p.max_hold)  # the probe up failed: wait longer next time
        return ChoiceState(allowed=best, since=at, bad_streak=0, hold=hold, last_up=state.last_up)
    state = replace(state, allowed=current, bad_streak=0)
    higher = [lay for lay in available if _index(lay) > _index(current)]
    if not higher:
        return replace(state, fits_up_since=None)
    nxt = higher[0]
    if not fits(nxt, estimate, rates, p, margin=p.up_headroom):
        return replace(state, fits_up_since=None)
    since = state.fits_up_since if state.fits_up_since is not None else at
    if at - since >= state.hold and at - state.since >= state.hold:
        return replace(state, allowed=nxt, since=at, fits_up_since=None, last_up=at)
    return replace(state, fits_up_since=since)


def lower_of(a: Allowed, b: Allowed) -> Allowed:
    return a if _index(a) <= _index(b) else b


def remb_of(sender: Any) -> float | None:
    """The receiver's last REMB for this sender (aiortc 1.16 stores it on the encoder)."""
    encoder = getattr(sender, _S + "encoder", None)
    value = getattr(encoder, "target_bitrate", 0) or 0
    return float(value) if value > 0 else None


class RetransmitGate:
    """Caps NACK-driven retransmissions of one sender (see module docstring)."""

    def __init__(
        self,
        budget_bps: Callable[[], float],
        rtt: Callable[[], float | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_per_packet: int = 2,
    ) -> None:
        self._budget_bps = budget_bps
        self._rtt = rtt
        self._clock = clock
        self.max_per_packet = max_per_packet
        self._tokens = 0.0
        self._stamp: float | None = None
        self._recent: OrderedDict[int, tuple[float, int]] = OrderedDict()
        self.allowed = 0
        self.refused_budget = 0
        self.refused_repeat = 0

    def allow(self, sequence_number: int, size: int) -> bool:
        now = self._clock()
        rate = max(self._budget_bps(), 0.0) / 8  # bytes per second
        burst = max(rate * 0.25, 1500.0)
        if self._stamp is None:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        last = self._recent.get(sequence_number)
        if last is not None:
            when, count = last
            if count >= self.max_per_packet or now - when < max(self._rtt() or 0.0, 0.05):
                self.refused_repeat += 1
                return False
        if self._tokens < size:
            self.refused_budget += 1
            return False
        self._tokens -= size
        count = last[1] + 1 if last is not None else 1
        self._recent[sequence_number] = (now, count)
        self._recent.move_to_end(sequence_number)
        while len(self._recent) > 1024:
            self._recent.popitem(last=False)
        self.allowed += 1
        return True

    def install(self, sender: Any) -> None:
        """Wrap ``sender._retransmit`` (aiortc 1.16) on this instance."""
        original: Callable[[int], Awaitable[None]] = sender._retransmit
        history = getattr(sender, _S + "rtp_history", None)

        async def retransmit(sequence_number: int) -> None:
            size = 1200
            if isinstance(history, dict):
                packet = history.get(sequence_number % RTP_HISTORY_SIZE)
                if packet is None or packet.sequence_number != sequence_number:
                    return  # aiortc would skip it as well
                size = len(packet.payload) + 40
            if self.allow(sequence_number, size):
                await original(sequence_number)

        sender._retransmit = retransmit

    def stats(self) -> dict[str, int]:
        return {
            "rtx_sent": self.allowed,
            "rtx_refused_budget": self.refused_budget,
            "rtx_refused_repeat": self.refused_repeat,
        }
