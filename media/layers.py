"""Which video layer a consumer may receive, decided from receiver feedback.

Pure functions, no I/O (LiveKit forwarder style): the consumer feeds one
``LinkSample`` per RTCP receiver report and applies the returned decision.

Why this shape: a village link (1 Mbps, 5% loss) overflowed by the high layer
plus its NACK retransmissions freezes for seconds, so going *down* must be
quick (two bad reports in a row, about 1–2 s); going *up* must be slow and
sure (the link stayed clean for ``hold`` seconds and we have not moved for
``hold`` seconds), or the consumer flaps between layers and each switch costs a
keyframe. A move up that is undone within twice the hold doubles the hold (to
``max_hold``): a link that only looks clean on the low layer is not probed
every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Layer = Literal["high", "low"]
LAYERS: tuple[Layer, ...] = ("low", "high")  # ascending quality


@dataclass(frozen=True)
class LinkSample:
    """One receiver report about a consumer's downlink."""

    at: float  # monotonic seconds
    loss: float  # fraction lost since the previous report, 0..1
    rtt: float | None = None  # seconds, if known
    nack_ratio: float = 0.0  # NACKed packets / packets sent since the previous report


@dataclass(frozen=True)
class LayerParams:
    # 4%: on a village link with ~5% random loss the high layer's keyframes (dozens of
    # packets) almost always lose one and wait for retransmissions; the low layer plays.
    # (Measured with tongbu bench village: at 8% the move waited for two unlucky reports,
    # 3-11 s; docs/benchmarks.md.)
    down_loss: float = 0.04
    up_loss: float = 0.02
    down_rtt: float = 0.5
    up_rtt: float = 0.3
    bad_samples_to_down: int = 2
    hold: float = 4.0  # settings.layer_switch_hold
    max_hold: float = 60.0  # the hold doubles after each failed move up, to this


@dataclass(frozen=True)
class LayerState:
    """What the decision remembers between samples."""

    allowed: Layer = "high"
    since: float = 0.0  # when ``allowed`` last changed
    bad_streak: int = 0
    good_since: float | None = None
    hold: float | None = None  # current hold (None: params.hold); doubles after a failed probe
    last_up: float | None = None


def is_bad(sample: LinkSample, p: LayerParams) -> bool:
    return (
        sample.loss >= p.down_loss
        or sample.nack_ratio >= p.down_loss
        or (sample.rtt is not None and sample.rtt >= p.down_rtt)
    )


def is_good(sample: LinkSample, p: LayerParams) -> bool:
    return (
        sample.loss <= p.up_loss
        and sample.nack_ratio <= p.up_loss
        and (sample.rtt is None or sample.rtt <= p.up_rtt)
    )


def decide(state: LayerState, sample: LinkSample, p: LayerParams) -> LayerState:
    """Next state for one feedback sample; ``result.allowed`` is the highest layer allowed."""
    bad = is_bad(sample, p)
    good = is_good(sample, p)
    bad_streak = state.bad_streak + 1 if bad else 0
    good_since = (state.good_since if state.good_since is not None else sample.at) if good else None
    new = replace(state, bad_streak=bad_streak, good_since=good_since)

    hold = state.hold if state.hold is not None else p.hold
    if state.allowed == "high" and bad_streak >= p.bad_samples_to_down:
        if state.last_up is not None and sample.at - state.last_up <= 2 * hold:
            hold = min(hold * 2, p.max_hold)  # the move up failed: wait longer next time
        return replace(
            new, allowed="low", since=sample.at, bad_streak=0, good_since=None, hold=hold
        )
    if (
        state.allowed == "low"
        and good_since is not None
        and sample.at - good_since >= hold
        and sample.at - state.since >= hold
    ):
        return replace(new, allowed="high", since=sample.at, good_since=None, last_up=sample.at)
    return new


def target_layer(preferred: Layer, allowed: Layer, available: set[str]) -> Layer | None:
    """The layer to forward: the lower of preferred and allowed, else whatever exists."""
    want: Layer = "low" if "low" in (preferred, allowed) else "high"
    if want in available:
        return want
    for layer in LAYERS if want == "low" else tuple(reversed(LAYERS)):
        if layer in available:
            return layer
    return None
