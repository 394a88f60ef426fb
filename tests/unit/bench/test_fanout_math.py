"""The arithmetic behind `tongbu bench fanout`'s table: CPU windows, latency matching, ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.bench.fanout import CpuSampler, Point, _latencies, _percentile, marginal, ratios
from server.bench.source import SendLog, payload_key


def test_cpu_percent_interpolates_between_samples() -> None:
    sampler = CpuSampler.__new__(CpuSampler)  # no thread, no process: just the arithmetic
    sampler.samples = [(0.0, 10.0), (1.0, 10.5), (2.0, 11.5), (3.0, 11.5)]
    assert sampler.percent(0.0, 2.0) == pytest.approx(75.0)
    assert sampler.percent(0.5, 1.5) == pytest.approx(75.0)  # 0.25 s + 0.5 s of CPU in 1 s
    assert sampler.percent(2.0, 3.0) == pytest.approx(0.0)


def test_latency_matches_the_latest_send_of_a_repeated_payload(tmp_path: Path) -> None:
    log = tmp_path / "send.tsv"
    a, b = payload_key(b"frame-a"), payload_key(b"frame-b")
    assert payload_key(b"frame-a") == a != b  # stable across calls (and processes)
    log.write_text(f"{a}\t10.000\n{b}\t10.033\n{a}\t20.000\n")
    subs = [{"hashes": [(a, 10.002), (b, 10.040), (a, 20.005), (payload_key(b"x"), 30.0)]}]
    assert _latencies(log, subs) == pytest.approx([2.0, 7.0, 5.0])
    assert _percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0
    assert _percentile([], 0.95) is None


def test_send_log_keeps_every_send_in_order() -> None:
    log = SendLog()
    log.record(b"x")
    log.record(b"x")
    assert [k for k, _ in log.sends] == [payload_key(b"x")] * 2
    assert log.sends[0][1] <= log.sends[1][1]


def test_ratios_and_marginal_cost() -> None:
    points = [
        Point("mediarelay", 1, cpu_percent=40.0),
        Point("mediarelay", 3, cpu_percent=84.0),
        Point("tongbu", 1, cpu_percent=6.0),
        Point("tongbu", 3, cpu_percent=7.0),
        Point("tongbu", 51, cpu_percent=32.0),
        Point("tongbu", 9, error="boom"),
    ]
    assert ratios(points) == {1: pytest.approx(40 / 6), 3: pytest.approx(28 / (7 / 3))}
    assert marginal(points, "mediarelay") == pytest.approx(22.0)
    assert marginal(points, "tongbu") == pytest.approx(0.52, abs=0.01)
    assert marginal([Point("tongbu", 5, cpu_percent=1.0)], "tongbu") is None
