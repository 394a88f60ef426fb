"""The namespace harness itself: NAT, seeded loss, delay, nft loss, cuts, cleanup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from server.netlab import LinkSpec, School
from server.netlab.quality import recovery_time, stream_quality

from .conftest import REPO


def _probe(school: School, port: int, count: int) -> dict:
    result = school.run(
        [sys.executable, "-m", "server.netlab.probe", school.host_addr, str(port), str(count)],
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_classroom_reaches_host_through_nat_and_nothing_is_left(netlab, echo_factory) -> None:
    with School(LinkSpec()) as school:
        echo = echo_factory(school.host_addr)
        report = _probe(school, echo.port, 20)
        names = (school.router_ns, school.school_ns)
        assert all(n in _namespaces() for n in names)
    assert len(report["received"]) == 20
    assert set(echo.peers) == {school.router_addr}  # masqueraded: never 192.168.x.2
    listing = _namespaces()
    assert not any(n in listing for n in names)
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert school.host_dev not in links


def test_seeded_loss_and_delay_reproduce_packet_for_packet(netlab, echo_factory) -> None:
    spec = LinkSpec(loss=0.05, delay_ms=50, jitter_ms=5, seed=7)
    runs = []
    for _ in range(2):
        with School(spec) as school:
            echo = echo_factory(school.host_addr)
            runs.append(_probe(school, echo.port, 150))
        assert school.forwarder_counters is not None
    first, second = runs
    assert first["received"] == second["received"]  # same datagrams lost in both runs
    assert 100 <= len(first["received"]) < 150  # ~10% lost on a round trip at 5% each way
    assert 0.09 <= first["median_rtt"] <= 0.2  # 2 x 50 ms one-way (+ a loaded machine)


def test_unseeded_loss_is_an_nft_rule_on_the_router(netlab, echo_factory) -> None:
    with School(LinkSpec(loss=0.3, seed=None)) as school:
        rules = subprocess.run(
            ["ip", "netns", "exec", school.router_ns, "nft", "list", "ruleset"],
            capture_output=True,
            text=True,
        ).stdout
        echo = echo_factory(school.host_addr)
        report = _probe(school, echo.port, 150)
    assert "numgen random mod 1000 < 300" in rules
    assert 30 <= len(report["received"]) <= 110  # ~49% arrive back


def test_cut_drops_everything_until_restored(netlab, echo_factory) -> None:
    with School(LinkSpec()) as school:
        echo = echo_factory(school.host_addr)
        school.cut()
        during = _probe(school, echo.port, 20)
        school.restore()
        after = _probe(school, echo.port, 20)
    assert during["received"] == []
    assert len(after["received"]) == 20
    assert school.forwarder_counters is not None
    assert school.forwarder_counters["up"]["cut"] >= 20


def test_udp_blocked_school_gets_no_datagram_out(netlab, echo_factory) -> None:
    with School(LinkSpec(block_udp=True)) as school:
        echo = echo_factory(school.host_addr)
        report = _probe(school, echo.port, 10)
    assert report["received"] == []


def test_lab_is_removed_when_the_body_fails(netlab) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with School(LinkSpec(rate_kbit=500)) as school:
            names = (school.router_ns, school.school_ns)
            raise RuntimeError("boom")
    listing = _namespaces()
    assert not any(n in listing for n in names)


def test_stream_quality_counts_gaps_and_freezes() -> None:
    times = [i * 0.02 for i in range(50)] + [1.5 + i * 0.02 for i in range(25)]  # 0.52 s hole
    q = stream_quality(times, 0.0, 2.0)
    assert q.frames == 75
    assert q.freezes_over_200ms == 1 and q.freezes_over_1s == 0
    assert q.max_gap == pytest.approx(0.52, abs=0.01)
    assert recovery_time(times, 1.0) == pytest.approx(0.5, abs=0.01)
    assert recovery_time([5.0], 1.0) is None


def test_a_lab_whose_builder_was_killed_is_swept_by_the_next_one(netlab) -> None:
    code = (
        "from server.netlab import School, LinkSpec\n"
        "s = School(LinkSpec(delay_ms=10)); s.build(); print(s.id, flush=True)\n"
        "import time; time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    lab = proc.stdout.readline().strip()
    assert f"vlg{lab}c" in _namespaces()
    proc.kill()  # SIGKILL: no finally, no cleanup
    proc.wait(10)
    with School(LinkSpec()):
        listing = _namespaces()
    assert f"vlg{lab}c" not in listing and f"vlg{lab}r" not in listing
