"""Bandwidth estimate, layer choice with hysteresis and the retransmission cap (media/bwe.py)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket

from media.bwe import (
    BandwidthEstimator,
    BweParams,
    ChoiceState,
    RateMeter,
    RetransmitGate,
    choose_layer,
    fits,
    remb_of,
)

P = BweParams(hold=4.0, audio_reserve_bps=50_000)
RATES = {"high": 800_000.0, "low": 150_000.0}


def test_estimate_grows_through_random_loss_and_is_cut_from_the_send_rate_on_heavy_loss():
    bwe = BandwidthEstimator(BweParams(start_bps=1_000_000, loss_smoothing=0.5))
    # no loss, no queue: at least what is sent, with the fit margin ((900k + 64k) × 1.15)
    assert bwe.on_report(0.0, 900_000, 0.05) == pytest.approx(1_108_600)
    assert bwe.on_report(0.05, 900_000, 0.05) == pytest.approx(1_108_600 * 1.08)  # noise: grow
    assert bwe.on_report(0.12, 900_000, 0.05) == pytest.approx(1_108_600 * 1.08)  # 10..15%: hold
    # 30% in a report while the smoothed loss is above 10%: cut from what we send
    assert bwe.on_report(0.3, 900_000, 0.05) == pytest.approx(900_000 * 0.85)


def test_one_unlucky_report_on_a_clean_link_is_not_congestion():
    bwe = BandwidthEstimator(BweParams(start_bps=1_000_000, loss_smoothing=0.25))
    bwe.on_report(0.0, 900_000, 0.05)
    assert bwe.on_report(0.2, 900_000, 0.05) == pytest.approx(1_108_600)  # smoothed 5%: hold


def test_growth_stops_at_twice_the_send_rate_or_the_start_value():
    bwe = BandwidthEstimator(BweParams(start_bps=1_000_000))
    for _ in range(30):
        bwe.on_report(0.0, 200_000, 0.05)
    assert bwe.estimate == 1_000_000
    for _ in range(30):
        bwe.on_report(0.0, 800_000, 0.05)
    assert bwe.estimate == 1_600_000


def test_a_growing_queue_cuts_the_estimate_below_the_send_rate():
    bwe = BandwidthEstimator(BweParams(start_bps=3_000_000))
    bwe.on_report(0.0, 1_200_000, 0.2, at=0.0)
    assert bwe.on_report(0.0, 1_200_000, 0.6, at=0.5) == 3_000_000  # one late report: a hiccup
    assert bwe.on_report(0.0, 1_200_000, 0.6, at=1.0) == 1_200_000 * 0.85  # RTT +400 ms twice
    # the queue drains for a while after the cut: a lower send rate is no reason to cut again
    assert bwe.on_report(0.0, 300_000, 0.6, at=2.0) == 1_200_000 * 0.85
    assert bwe.on_report(0.0, 300_000, 0.6, at=3.5) == 300_000 * 0.85


def test_remb_below_the_send_rate_caps_the_estimate_and_above_it_is_ignored():
    bwe = BandwidthEstimator(BweParams(start_bps=2_000_000, increase=1.0))
    bwe.on_remb(900_000)
    assert bwe.on_report(0.0, 800_000, 0.05) == 2_000_000  # the receiver keeps up: no cap
    bwe.on_remb(500_000)
    assert bwe.on_report(0.0, 800_000, 0.05) == 500_000  # it sees overuse
    bwe.on_remb(0)
    assert bwe.remb is None


def test_the_report_after_a_cut_does_not_count_as_congestion():
    bwe = BandwidthEstimator(BweParams(start_bps=1_000_000, silence=3.0))
    bwe.on_report(0.0, 900_000, 0.05, at=0.0)
    assert bwe.on_report(0.9, 900_000, 0.05, at=10.0) == pytest.approx(1_108_600)
    assert bwe.on_report(0.5, 900_000, 0.05, at=11.0) == 900_000 * 0.75  # smoothed 20%


def run(estimates, state=None, rates=RATES, start=0.0):
    state = state or ChoiceState(hold=P.hold)
    history = []
    for i, est in enumerate(estimates):
        state = choose_layer(state, start + i, est, rates, P)
        history.append(state.allowed)
    return state, history


def test_a_thin_link_goes_down_after_two_reports_and_to_audio_only_when_low_does_not_fit():
    _, history = run([2_000_000, 700_000, 700_000, 700_000])
    assert history == ["high", "high", "low", "low"]
    _, history = run([150_000] * 5)
    # 150 k < (150 k + 50 k) * 1.15: even low does not fit, found out on low itself
    assert history == ["high", "low", "low", None, None]


def test_without_real_loss_video_is_never_taken_away():
    state = ChoiceState(hold=P.hold)
    for i in range(6):  # a late RTT squeezed the estimate, but nothing was lost
        state = choose_layer(state, float(i), 100_000, RATES, P, lossy=False)
    assert state.allowed == "low"


def test_one_bad_report_does_not_switch():
    _, history = run([2_000_000, 500_000, 2_000_000, 2_000_000])
    assert set(history) == {"high"}


def test_up_only_after_the_next_layer_fitted_with_margin_for_the_hold_time():
    state, _ = run([500_000, 500_000])  # low
    assert state.allowed == "low"
    # 1.1 M fits high with the 1.15 headroom but not with the 1.4 up-margin: stays low
    state, history = run([1_100_000] * 8, state, start=10)
    assert set(history) == {"low"}
    state, history = run([1_500_000] * 6, state, start=20)
    assert history == ["low", "low", "low", "low", "high", "high"]


def test_a_failed_probe_doubles_the_hold():
    state, _ = run([500_000, 500_000])
    state, _ = run([1_500_000] * 5, state, start=10)
    assert state.allowed == "high" and state.last_up == 14
    state, _ = run([500_000, 500_000], state, start=15)  # fell back within 2 x hold
    assert state.allowed == "low" and state.hold == 8.0
    state, history = run([1_500_000] * 9, state, start=30)
    assert history.index("high") == 8  # waited 8 s this time


def test_audio_only_comes_back_to_low_then_high():
    state, _ = run([100_000] * 4)
    assert state.allowed is None
    state, history = run([400_000] * 5, state, start=10)
    assert history[-1] == "low" and history[:4] == [None] * 4


def test_unknown_rates_fit_and_missing_layers_are_skipped():
    assert fits("high", 10_000, {"high": None}, P, margin=1.0)
    _, history = run([300_000, 300_000], rates={"high": 800_000.0})  # no low layer
    assert history == ["high", None]


def test_rate_meter_needs_half_a_second_then_reports_bits_per_second():
    meter = RateMeter(window=2.0)
    meter.add(0.0, 1000)
    assert meter.bps(0.2) is None
    for i in range(1, 21):
        meter.add(i * 0.1, 1000)
    assert meter.bps(2.0) == 21 * 1000 * 8 / 2.0


def test_retransmit_gate_caps_bytes_and_repeats():
    now = [0.0]
    gate = RetransmitGate(lambda: 80_000, lambda: 0.2, clock=lambda: now[0])  # 10 kB/s
    burst = [gate.allow(seq, 1000) for seq in range(5)]
    assert burst == [True, True, False, False, False]  # 2.5 kB burst
    now[0] = 1.0
    assert gate.allow(10, 1000) and gate.allow(11, 1000)
    assert not gate.allow(10, 100)  # again within one RTT
    now[0] = 1.5
    assert gate.allow(10, 100)  # a second time after the RTT
    now[0] = 3.0
    assert not gate.allow(10, 100)  # never a third time
    assert gate.stats() == {"rtx_sent": 5, "rtx_refused_budget": 3, "rtx_refused_repeat": 2}


def test_aiortc_seams_used_by_the_gate_and_remb_are_where_we_expect():
    assert list(inspect.signature(RTCRtpSender._retransmit).parameters) == [
        "self",
        "sequence_number",
    ]
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in retransmit
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in rtcp
    assert "self.__encoder.target_bitrate = bitrate" in rtcp  # REMB lands on the encoder


class _FakeEncoder:
    target_bitrate = 0


class _Sender:
    """Just the private state the gate and remb_of read (names as aiortc mangles them)."""

    def __init__(self) -> None:
        self._RTCRtpSender__rtp_history: dict[int, RtpPacket] = {}
        self._RTCRtpSender__encoder = _FakeEncoder()
        self.sent: list[int] = []

    async def _retransmit(self, sequence_number: int) -> None:
        self.sent.append(sequence_number)


def test_installed_gate_sends_only_packets_in_history_within_budget():
    sender = _Sender()
    for seq in range(3):
        sender._RTCRtpSender__rtp_history[seq] = RtpPacket(sequence_number=seq, payload=b"x" * 960)
    gate = RetransmitGate(lambda: 16_000, lambda: None)  # 2 kB/s, burst 1.5 kB
    gate.install(sender)

    async def go() -> None:
        for seq in (0, 1, 2, 200):
            await sender._retransmit(seq)

    asyncio.run(go())
    assert sender.sent == [0]  # 1 kB each: one fits the burst; 200 is not in history
    assert remb_of(sender) is None
    sender._RTCRtpSender__encoder.target_bitrate = 450_000
    assert remb_of(sender) == 450_000
