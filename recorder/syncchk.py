"""Measure synchronisation of a recording from its files (the issue's sync targets).

Given a recording of the flash/beep test signal (`recorder.testsignal`), find
every flash onset in each video file and every beep onset in each audio file,
place them on the lesson timeline through the manifest (segment start offset +
pts), and report:

* A/V offset per participant (video onset − audio onset; positive = video late),
  target ±40 ms;
* cross-classroom offset between participants' flashes, target ±100 ms;
* drift: how much those offsets change from the first to the last flash.

This module decodes (it is a checker, never on the live path). It is used by
the tests and can be run on a real recording of the signal:
`python -m recorder.syncchk <recording_dir>`.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from recorder.manifest import Manifest, ManifestStore, Track
from recorder.testsignal import BAND, read_counter

AV_TOLERANCE_MS = 40.0
CROSS_TOLERANCE_MS = 100.0
# One video frame at 30 fps: onsets are quantised to frames, so a drift below
# one frame interval is indistinguishable from measurement noise.
DRIFT_TOLERANCE_MS = 35.0
MATCH_WINDOW_MS = 450.0  # flashes are ≥ 1 s apart; nearest-onset pairing within this


@dataclass
class TrackOnsets:
    track_id: str
    participant: str
    kind: str
    onsets_ms: list[float]  # lesson timeline
    frame_counters: list[int] = field(default_factory=list)


@dataclass
class PairOffsets:
    """Offsets of one pairing (A/V of one participant, or two participants' videos)."""

    name: str
    offsets_ms: list[float]

    @property
    def max_abs_ms(self) -> float:
        return max((abs(o) for o in self.offsets_ms), default=float("inf"))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.offsets_ms)) if self.offsets_ms else float("nan")

    @property
    def drift_ms(self) -> float:
        if len(self.offsets_ms) < 2:
            return 0.0
        return self.offsets_ms[-1] - self.offsets_ms[0]


@dataclass
class SyncReport:
    av: list[PairOffsets]
    cross: list[PairOffsets]
    onsets: list[TrackOnsets]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, object]:
        def pairs(ps: list[PairOffsets]) -> list[dict[str, object]]:
            return [{"name": p.name, "mean_ms": round(p.mean_ms, 1),
                     "max_abs_ms": round(p.max_abs_ms, 1), "drift_ms": round(p.drift_ms, 1),
                     "n": len(p.offsets_ms)} for p in ps]
        return {"ok": self.ok, "av": pairs(self.av), "cross": pairs(self.cross),
                "problems": self.problems}


def _edge_indices(values: np.ndarray, times: np.ndarray, threshold: float,
                  min_gap_s: float) -> list[int]:
    """Indices where `values` rises above `threshold` after at least `min_gap_s` below it."""
    above = values > threshold
    out: list[int] = []
    last_on = -1e9
    prev = False
    for i, a in enumerate(above):
        if a and not prev and times[i] - last_on >= min_gap_s:
            out.append(i)
        if a:
            last_on = times[i]
        prev = bool(a)
    return out


def _edges(
    values: np.ndarray, times: np.ndarray, threshold: float, min_gap_s: float
) -> list[float]:
    """Times where `values` rises above `threshold` after at least `min_gap_s` below it."""
    return [float(times[i]) for i in _edge_indices(values, times, threshold, min_gap_s)]


def video_flash_onsets(path: Path) -> tuple[list[float], list[int]]:
    """Flash onsets (seconds of file pts) and the frame counters read from every frame."""
    times: list[float] = []
    lumas: list[float] = []
    counters: list[int] = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            if frame.pts is None:
                continue
            y = frame.to_ndarray(format="gray")
            times.append(float(frame.pts * (stream.time_base or 0)))
            lumas.append(float(y[BAND + 2:, :].mean()))
            counters.append(read_counter(y))
    if not times:
        return [], []
    arr = np.array(lumas)
    threshold = (arr.min() + arr.max()) / 2
    if arr.max() - arr.min() < 40:  # no flash at all in this file
        return [], counters
    onsets = []
    for i in _edge_indices(arr, np.array(times), threshold, 0.3):
        # A frame missing right before the first bright one (the frame counter jumps)
        # may have been the real start of the flash: frame loss, not a sync error, so
        # this flash is not measured rather than measured one frame late.
        if i > 0 and counters[i] - counters[i - 1] != 1:
            continue
        onsets.append(float(times[i]))
    return onsets, counters


def audio_beep_onsets(path: Path) -> list[float]:
    """Beep onsets (seconds of file pts), from a 1 ms peak envelope.

    Each decoded frame's samples are placed at that frame's own pts (as a
    player and the exporter's `aresample=async` do), so a timestamp gap in
    the file shows up as a shift here too.
    """
    env_t: list[np.ndarray] = []
    env_v: list[np.ndarray] = []
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        next_t = 0.0
        for frame in c.decode(stream):
            rate = frame.sample_rate
            t0 = float(frame.pts * (stream.time_base or 0)) if frame.pts is not None else next_t
            data = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                mono = data.mean(axis=0)
            else:
                mono = data.reshape(-1, len(frame.layout.channels)).mean(axis=1)
            win = max(1, rate // 1000)
            n = len(mono) // win
            if n == 0:
                continue
            env_v.append(np.abs(mono[: n * win]).reshape(n, win).max(axis=1))
            env_t.append(t0 + np.arange(n) * win / rate)
            next_t = t0 + len(mono) / rate
    if not env_v:
        return []
    env = np.concatenate(env_v)
    times = np.concatenate(env_t)
    if env.max() <= 0:
        return []
    return _edges(env, times, env.max() * 0.25, 0.3)


def export_onsets(
    path: Path, regions: list[tuple[int, int, int, int]]
) -> tuple[list[list[float]], list[float]]:
    """Flash onsets (s) inside each (x, y, w, h) region of an exported video, and beep onsets.

    Lets a test check that the export kept the recording's alignment: the
    tiles of two classrooms flash together and the mixed audio beeps with them.
    """
    times: list[float] = []
    lumas: list[list[float]] = [[] for _ in regions]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            if frame.pts is None:
                continue
            y = frame.to_ndarray(format="gray")
            times.append(float(frame.pts * (stream.time_base or 0)))
            for i, (x0, y0, w, h) in enumerate(regions):
                # the middle of the tile: away from the counter band and padding
                lumas[i].append(float(y[y0 + h // 3:y0 + 2 * h // 3,
                                        x0 + w // 3:x0 + 2 * w // 3].mean()))
    out: list[list[float]] = []
    for series in lumas:
        arr = np.array(series)
        if arr.size == 0 or arr.max() - arr.min() < 40:
            out.append([])
            continue
        out.append(_edges(arr, np.array(times), (arr.min() + arr.max()) / 2, 0.3))
    return out, audio_beep_onsets(path)


def track_onsets(directory: Path, track: Track) -> TrackOnsets:
    """All onsets of a track's segments on the lesson timeline (ms)."""
    onsets: list[float] = []
    counters: list[int] = []
    for seg in track.segments:
        path = directory / seg.file
        if track.kind == "video":
            ts, cs = video_flash_onsets(path)
            counters.extend(cs)
        else:
            ts = audio_beep_onsets(path)
        onsets.extend(seg.start_offset_ms + t * 1000.0 for t in ts)
    return TrackOnsets(track.id, track.participant, track.kind, sorted(onsets), counters)


def pair_offsets(name: str, a: list[float], b: list[float]) -> PairOffsets:
    """For each onset in `a`, the offset to the nearest onset in `b` (a − b) within the window."""
    out: list[float] = []
    for t in a:
        if not b:
            break
        nearest = min(b, key=lambda x: abs(x - t))
        if abs(nearest - t) <= MATCH_WINDOW_MS:
            out.append(t - nearest)
    return PairOffsets(name, out)


def check_recording(
    directory: Path,
    manifest: Manifest | None = None,
    *,
    av_tolerance_ms: float = AV_TOLERANCE_MS,
    cross_tolerance_ms: float = CROSS_TOLERANCE_MS,
    drift_tolerance_ms: float = DRIFT_TOLERANCE_MS,
    min_events: int = 3,
) -> SyncReport:
    """Measure a recording of the test signal against the sync targets."""
    manifest = manifest or ManifestStore(directory).load()
    onsets = [track_onsets(directory, t) for t in manifest.tracks]
    by_participant: dict[str, dict[str, TrackOnsets]] = {}
    for o in onsets:
        by_participant.setdefault(o.participant, {})[o.kind] = o
    problems: list[str] = []
    av_pairs: list[PairOffsets] = []
    for participant, kinds in sorted(by_participant.items()):
        if "video" in kinds and "audio" in kinds:
            p = pair_offsets(f"{participant} video-audio", kinds["video"].onsets_ms,
                             kinds["audio"].onsets_ms)
            av_pairs.append(p)
            if len(p.offsets_ms) < min_events:
                problems.append(f"{p.name}: only {len(p.offsets_ms)} matched flash/beep pairs")
            elif p.max_abs_ms > av_tolerance_ms:
                problems.append(f"{p.name}: A/V offset up to {p.max_abs_ms:.1f} ms "
                                f"(limit ±{av_tolerance_ms:.0f})")
            if abs(p.drift_ms) > drift_tolerance_ms:
                problems.append(f"{p.name}: drift {p.drift_ms:.1f} ms")
    cross_pairs: list[PairOffsets] = []
    videos = [(p, k["video"]) for p, k in sorted(by_participant.items()) if "video" in k]
    for (pa, va), (pb, vb) in itertools.combinations(videos, 2):
        p = pair_offsets(f"{pa} vs {pb}", va.onsets_ms, vb.onsets_ms)
        cross_pairs.append(p)
        if len(p.offsets_ms) < min_events:
            problems.append(f"{p.name}: only {len(p.offsets_ms)} matched flashes")
        elif p.max_abs_ms > cross_tolerance_ms:
            problems.append(f"{p.name}: classrooms {p.max_abs_ms:.1f} ms apart "
                            f"(limit ±{cross_tolerance_ms:.0f})")
        if abs(p.drift_ms) > drift_tolerance_ms:
            problems.append(f"{p.name}: drift {p.drift_ms:.1f} ms")
    return SyncReport(av_pairs, cross_pairs, onsets, problems)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m recorder.syncchk RECORDING_DIR", file=sys.stderr)
        return 2
    report = check_recording(Path(args[0]))
    print(json.dumps(report.summary(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
