from __future__ import annotations

from media.layers import LayerParams, LayerState, LinkSample, decide, target_layer

P = LayerParams(hold=4.0)

# (seconds, loss, rtt) reports about a village link
CLEAN = [(t, 0.0, 0.05) for t in range(10)]
ONE_BLIP = [(0, 0.0, 0.05), (1, 0.2, 0.05), (2, 0.0, 0.05), (3, 0.0, 0.05)]
CONGESTED = [(0, 0.0, 0.1), (1, 0.12, 0.1), (2, 0.15, 0.2), (3, 0.1, 0.2)]
RECOVERING = [(0, 0.2, 0.1), (1, 0.2, 0.1)] + [(t, 0.0, 0.05) for t in range(2, 12)]


def run(samples, state=None):
    state = state or LayerState()
    history = []
    for at, loss, rtt in samples:
        state = decide(state, LinkSample(at=float(at), loss=loss, rtt=rtt), P)
        history.append(state.allowed)
    return state, history


def test_clean_link_stays_high():
    _, history = run(CLEAN)
    assert set(history) == {"high"}


def test_single_loss_blip_does_not_switch():
    _, history = run(ONE_BLIP)
    assert set(history) == {"high"}


def test_sustained_loss_goes_low_after_two_reports():
    _, history = run(CONGESTED)
    assert history == ["high", "high", "low", "low"]


def test_high_rtt_alone_goes_low():
    _, history = run([(0, 0.0, 0.8), (1, 0.0, 0.9)])
    assert history == ["high", "low"]


def test_nack_ratio_counts_as_loss():
    s = LayerState()
    for at in (0.0, 1.0):
        s = decide(s, LinkSample(at=at, loss=0.0, rtt=0.05, nack_ratio=0.3), P)
    assert s.allowed == "low"


def test_recovers_only_after_hold_seconds_of_clean_reports():
    _, history = run(RECOVERING)
    assert history[1] == "low"
    first_high = history.index("high", 1)
    # went low at t=1, clean from t=2: up no earlier than t=6 (hold=4)
    assert first_high >= 6
    assert all(h == "high" for h in history[first_high:])


def test_a_bad_report_resets_the_recovery_clock():
    samples = [(0, 0.2, 0.1), (1, 0.2, 0.1), (2, 0.0, 0.1), (3, 0.0, 0.1), (4, 0.05, 0.1),
               (5, 0.0, 0.1), (6, 0.0, 0.1), (7, 0.0, 0.1), (8, 0.0, 0.1), (9, 0.0, 0.1)]
    _, history = run(samples)
    assert history[:9] == ["high"] + ["low"] * 8
    assert history[9] == "high"


def test_target_layer_is_the_lower_of_preferred_and_allowed():
    both = {"high", "low"}
    assert target_layer("high", "high", both) == "high"
    assert target_layer("high", "low", both) == "low"
    assert target_layer("low", "high", both) == "low"
    assert target_layer("low", "low", {"high"}) == "high"
    assert target_layer("high", "high", {"low"}) == "low"
    assert target_layer("high", "high", set()) is None
