"""The loss rule (media/layers.py) backs off after a failed move up, like the bandwidth rule."""

from __future__ import annotations

from media.layers import LayerParams, LayerState, LinkSample, decide

P = LayerParams(hold=4.0, max_hold=16.0)


def feed(state: LayerState, samples: list[tuple[float, float]]) -> tuple[LayerState, list[str]]:
    history = []
    for at, loss in samples:
        state = decide(state, LinkSample(at=at, loss=loss), P)
        history.append(state.allowed)
    return state, history


def test_a_failed_probe_doubles_the_hold_and_a_good_one_keeps_it() -> None:
    state, _ = feed(LayerState(), [(0, 0.1), (1, 0.1)])
    assert state.allowed == "low"
    state, history = feed(state, [(t, 0.0) for t in range(2, 8)])
    assert history[-1] == "high" and state.last_up == 6
    state, _ = feed(state, [(7, 0.1), (8, 0.1)])  # the probe failed at once
    assert state.allowed == "low" and state.hold == 8.0
    state, history = feed(state, [(t, 0.0) for t in range(9, 20)])
    assert history.index("high") == 8  # at t=17: 8 s clean and 8 s since the move down
    state, _ = feed(state, [(40, 0.1), (41, 0.1)])  # long after the probe: not its failure
    assert state.allowed == "low" and state.hold == 8.0


def test_the_hold_never_exceeds_its_maximum() -> None:
    state = LayerState(allowed="high", hold=16.0, last_up=0.0)
    state, _ = feed(state, [(1, 0.1), (2, 0.1)])
    assert state.hold == 16.0
