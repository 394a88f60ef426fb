"""On a clean link (no loss, no queue, no low REMB) a consumer keeps the layer it is sent.

Regression: a 720p layer (≈1.7 Mbit/s, keyframe bursts above 2 Mbit/s) was judged
not to fit the 2 Mbit/s start estimate, and single-layer consumers on a LAN went
to audio only under load (tongbu bench fanout, 10 subscribers).
"""

from __future__ import annotations

from media.bwe import BandwidthEstimator, BweParams, ChoiceState, choose_layer


def test_a_clean_link_never_pushes_a_heavy_single_layer_to_audio_only() -> None:
    p = BweParams()
    bwe = BandwidthEstimator(p)
    state = ChoiceState(allowed="high", hold=p.hold)
    for i in range(20):
        sending = 2_600_000 if i % 2 else 1_700_000  # keyframe bursts every other window
        est = bwe.on_report(0.0, sending, 0.002, at=float(i))
        state = choose_layer(state, float(i), est, {"high": float(sending)}, p)
        assert state.allowed == "high", (i, est)


def test_real_loss_still_moves_the_consumer_down() -> None:
    p = BweParams()
    bwe = BandwidthEstimator(p)
    state = ChoiceState(allowed="high", hold=p.hold)
    rates = {"high": 1_700_000.0, "low": 300_000.0}
    for i in range(8):
        est = bwe.on_report(0.30, 1_700_000, 0.05, at=float(i))
        state = choose_layer(state, float(i), est, rates, p)
    assert state.allowed in ("low", None)
