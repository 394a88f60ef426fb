"""RTP → lesson timeline mapping: unwrap, SR vs arrival, skew."""

from __future__ import annotations

import pytest

from recorder.manifest import ClockSource
from recorder.timeline import LessonClock, RtpUnwrapper, TrackTimeline, ntp_to_unix, unix_to_ntp

START = 1_700_000_000.0


def test_unwrapper_extends_across_32bit_wrap_and_tolerates_reordering() -> None:
    u = RtpUnwrapper()
    assert u.extend(0xFFFF_FF00) == 0xFFFF_FF00
    assert u.extend(0x0000_0100) == (1 << 32) + 0x100
    # a late packet from before the wrap stays in the previous cycle
    assert u.extend(0xFFFF_FFF0) == 0xFFFF_FFF0
    assert u.extend(0x0000_0200) == (1 << 32) + 0x200


def test_ntp_round_trip_is_sub_microsecond() -> None:
    for t in (START, START + 0.123456, START + 3600.999):
        assert ntp_to_unix(unix_to_ntp(t)) == pytest.approx(t, abs=1e-6)


def test_arrival_time_is_the_fallback_mapping() -> None:
    tl = TrackTimeline(LessonClock(START), 90000)
    ext = tl.observe(1000, START + 2.5)
    m = tl.mapping()
    assert m.source is ClockSource.ARRIVAL
    assert m.to_lesson_ms(ext) == pytest.approx(2500.0)
    assert m.to_lesson_ms(ext + 90000) == pytest.approx(3500.0)


def test_sender_report_replaces_biased_arrival_mapping() -> None:
    tl = TrackTimeline(LessonClock(START), 90000)
    ext = tl.observe(5000, START + 2.0 + 0.150)  # frame arrived 150 ms after capture
    tl.on_sender_report(unix_to_ntp(START + 2.0), 5000)
    m = tl.mapping()
    assert m.source is ClockSource.RTCP_SR and m.sender_reports == 1
    assert m.to_lesson_ms(ext) == pytest.approx(2000.0, abs=0.01)


def test_sender_report_rtp_before_a_wrap_maps_packets_after_it() -> None:
    tl = TrackTimeline(LessonClock(START), 48000)
    tl.observe(0xFFFF_FF00, START + 1.0)
    tl.on_sender_report(unix_to_ntp(START + 1.0), 0xFFFF_FF00)
    ext = tl.observe(0x0000_0100, START + 1.01)  # 512 samples later, after the wrap
    assert tl.to_lesson_ms(ext) == pytest.approx(1000.0 + 512 / 48, abs=0.01)


def test_skew_of_a_fast_sender_clock_is_estimated_and_corrected() -> None:
    tl = TrackTimeline(LessonClock(START), 90000)
    ppm = 200.0  # the sender's RTP clock runs 200 ppm fast
    tl.observe(0, START)
    for s in range(0, 61, 5):
        rtp = round(s * 90000 * (1 + ppm / 1e6))
        tl.on_sender_report(unix_to_ntp(START + s), rtp)
    assert tl.skew_ppm() == pytest.approx(ppm, rel=0.02)
    # 45 minutes later the mapping is still exact; without skew it would be 540 ms off.
    rtp_45min = round(2700 * 90000 * (1 + ppm / 1e6))
    assert tl.to_lesson_ms(rtp_45min) == pytest.approx(2_700_000.0, abs=2.0)


def test_skew_is_not_trusted_over_a_short_span() -> None:
    tl = TrackTimeline(LessonClock(START), 90000)
    tl.observe(0, START)
    tl.on_sender_report(unix_to_ntp(START), 0)
    tl.on_sender_report(unix_to_ntp(START + 1.001), 90000)  # 1 ms of send jitter
    assert tl.skew_ppm() == 0.0
    assert tl.to_lesson_ms(90000) == pytest.approx(1000.5, abs=0.01)


def test_mapping_needs_a_packet_or_report() -> None:
    with pytest.raises(ValueError):
        TrackTimeline(LessonClock(START), 90000).mapping()
