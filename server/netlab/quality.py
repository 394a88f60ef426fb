"""What a receiving classroom saw, reduced to the numbers the village targets name.

Pure functions over frame arrival times (monotonic seconds), so the benchmark
and the tests compute audio gaps, frame rate, freezes and recovery the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamQuality:
    frames: int
    fps: float  # frames per second over [start, end]
    max_gap: float  # longest time without a frame, seconds (includes the edges)
    gaps_over_100ms: int
    freezes_over_200ms: int
    freezes_over_1s: int


def _gaps(times: Sequence[float], start: float, end: float) -> list[float]:
    inside = [t for t in times if start <= t <= end]
    if not inside:
        return [end - start]
    points = [start, *inside, end]
    return [b - a for a, b in itertools.pairwise(points)]


def stream_quality(times: Sequence[float], start: float, end: float) -> StreamQuality:
    """Quality of one stream (audio or video) in the window ``[start, end]``."""
    gaps = _gaps(sorted(times), start, end)
    frames = sum(1 for t in times if start <= t <= end)
    span = max(end - start, 1e-9)
    return StreamQuality(
        frames=frames,
        fps=frames / span,
        max_gap=max(gaps),
        gaps_over_100ms=sum(1 for g in gaps if g > 0.1),
        freezes_over_200ms=sum(1 for g in gaps if g > 0.2),
        freezes_over_1s=sum(1 for g in gaps if g > 1.0),
    )


def recovery_time(times: Sequence[float], restored_at: float, *, run: int = 5) -> float | None:
    """Seconds from ``restored_at`` until frames flow again (``run`` frames within 1 s).

    None if they never did. One stray late packet does not count as recovered.
    """
    after = sorted(t for t in times if t >= restored_at)
    for i in range(len(after) - run + 1):
        if after[i + run - 1] - after[i] <= 1.0:
            return after[i] - restored_at
    return None
