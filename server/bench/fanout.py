"""`tongbu bench fanout`: one publisher → N subscribers, Tongbu's SFU against `MediaRelay`.

Each point of the run starts a fresh server process (Tongbu: `tongbu serve`;
baseline: uvicorn serving `server.bench.baseline`), a publisher process and a
subscriber process (server/bench/loadgen.py), and samples the server process's
CPU time with psutil while the subscribers count frames in a fixed window.
Reported per point: server CPU (% of one core) in total and per subscriber,
delivered video/audio fps per subscriber (minimum and mean), the longest video
gap, added latency p50/p95 (publisher hands a frame to its sender → subscriber
has the complete frame; both on this machine's monotonic clock), and a late
joiner's time to its first frame (after ICE connected, and after `join`).
The ratio compares CPU per subscriber with the baseline at the same count.
"""

from __future__ import annotations

import bisect
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from typing import Annotated, Any

import psutil
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from server.bench.clip import ensure_clip

console = Console()


@dataclass
class Point:
    mode: str  # "tongbu" | "mediarelay"
    subscribers: int
    cpu_percent: float = 0.0
    video_fps_min: float = 0.0
    video_fps_mean: float = 0.0
    audio_fps_mean: float = 0.0
    max_gap_ms: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    late_join_ice_ms: list[float] = field(default_factory=list)
    late_join_total_ms: list[float] = field(default_factory=list)
    late_first_keyframe: bool | None = None
    all_flowing: bool = False
    client_cpu_percent: float = 0.0  # all subscriber processes together
    client_processes: int = 1
    error: str | None = None

    @property
    def cpu_per_subscriber(self) -> float:
        return self.cpu_percent / max(1, self.subscribers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening")


class CpuSampler(threading.Thread):
    """Samples a process's CPU seconds (user + system) four times a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                t = self.proc.cpu_times()
            except psutil.Error:
                return
            self.samples.append((time.monotonic(), t.user + t.system))
            self._halt.wait(0.25)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)

    def percent(self, t0: float, t1: float) -> float:
        """CPU % of one core over [t0, t1], interpolating between samples."""

        def at(t: float) -> float:
            times = [s[0] for s in self.samples]
            i = bisect.bisect_left(times, t)
            if i == 0:
                return self.samples[0][1]
            if i >= len(self.samples):
                return self.samples[-1][1]
            (ta, ca), (tb, cb) = self.samples[i - 1], self.samples[i]
            return ca + (cb - ca) * (t - ta) / (tb - ta) if tb > ta else cb

        return 100.0 * (at(t1) - at(t0)) / (t1 - t0)


def _latencies(sendlog: Path, subscribers: list[dict[str, Any]]) -> list[float]:
    """Receive time − latest send time of the same payload before it, in ms."""
    sends: dict[int, list[float]] = defaultdict(list)
    for line in sendlog.read_text().splitlines():
        h, t = line.split("\t")
        sends[int(h)].append(float(t))
    for series in sends.values():
        series.sort()
    out: list[float] = []
    for sub in subscribers:
        for h, t_recv in sub["hashes"]:
            times = sends.get(h)
            if not times:
                continue
            i = bisect.bisect_right(times, t_recv)
            if i:
                out.append((t_recv - times[i - 1]) * 1000)
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_point(
    mode: str,
    count: int,
    clip: Path,
    *,
    warmup: float,
    duration: float,
    late_joins: int,
    workdir: Path,
    per_proc: int = 25,
) -> Point:
    point = Point("tongbu" if mode == "sfu" else "mediarelay", count)
    port = _free_port()
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "TONGBU_DATA_DIR": str(workdir / f"data-{mode}-{count}"),
        "TONGBU_SECRET_KEY": secret,
        "TONGBU_LOG_LEVEL": "WARNING",
    }
    if mode == "sfu":
        server_cmd = [sys.executable, "-c", "from server.cli import app; app()", "serve",
                      "--port", str(port), "--host", "127.0.0.1"]
        url = f"ws://127.0.0.1:{port}/ws"
    else:
        server_cmd = [sys.executable, "-m", "uvicorn", "--factory",
                      "server.bench.baseline:create_baseline_app", "--port", str(port),
                      "--host", "127.0.0.1", "--log-level", "warning"]
        url = f"http://127.0.0.1:{port}"
    sendlog = workdir / f"sendlog-{mode}-{count}.tsv"
    loadgen = [sys.executable, "-m", "server.bench.loadgen"]
    common = ["--mode", mode, "--url", url, "--secret", secret]
    server = publisher = None
    sampler: CpuSampler | None = None
    try:
        server = subprocess.Popen(server_cmd, env=env, stdout=subprocess.DEVNULL)
        _wait_port(port, server)
        publisher = subprocess.Popen(
            [*loadgen, "publish", *common, "--clip", str(clip), "--sendlog", str(sendlog)],
            env=env,
        )
        time.sleep(1.5)
        sampler = CpuSampler(server.pid)
        sampler.start()
        # Receiving 720p in Python costs the subscribers more than the server: spread them
        # over processes (at most `per_proc` each) so the client side is not the bottleneck.
        procs = max(1, -(-count // per_proc))
        sizes = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
        subs_procs: list[subprocess.Popen[bytes]] = []
        samplers: list[CpuSampler] = []
        first = 0
        for i, size in enumerate(sizes):
            proc = subprocess.Popen(
                [*loadgen, "subscribe", *common, "--count", str(size), "--warmup", str(warmup),
                 "--duration", str(duration), "--late-joins", str(late_joins if i == 0 else 0),
                 "--first-index", str(first)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            first += size
            subs_procs.append(proc)
            samplers.append(CpuSampler(proc.pid))
            samplers[-1].start()
        limit = warmup + duration + 120 + 20 * late_joins + 2 * count
        outputs = [proc.communicate(timeout=limit) for proc in subs_procs]
        sampler.stop()
        for s in samplers:
            s.stop()
        failed = [(p, err) for p, (_, err) in zip(subs_procs, outputs, strict=True) if p.returncode]
        if failed:
            lines = failed[0][1].decode(errors="replace").strip().splitlines()
            point.error = lines[-1] if lines else f"subscriber exit {failed[0][0].returncode}"
            return point
        parts = [json.loads(out) for out, _ in outputs]
        t0 = max(d["window"][0] for d in parts)
        t1 = min(d["window"][1] for d in parts)
        if t1 - t0 < duration / 2:
            point.error = "subscriber processes did not measure at the same time"
            return point
        point.cpu_percent = sampler.percent(t0, t1)
        point.client_cpu_percent = sum(s.percent(t0, t1) for s in samplers)
        point.client_processes = procs
        data = {
            "all_flowing": all(d["all_flowing"] for d in parts),
            "subscribers": [sub for d in parts for sub in d["subscribers"]],
            "late": parts[0]["late"],
        }
        subs = data["subscribers"]
        point.all_flowing = bool(data["all_flowing"])
        fps = [s["video_fps"] for s in subs]
        point.video_fps_min = min(fps)
        point.video_fps_mean = mean(fps)
        point.audio_fps_mean = mean(s["audio_fps"] for s in subs)
        point.max_gap_ms = max(s["max_video_gap_ms"] for s in subs)
        _stop(publisher)
        publisher = None
        if mode == "sfu":  # the baseline re-encodes: its payloads never match the source
            lat = _latencies(sendlog, subs)
            point.latency_p50_ms = _percentile(lat, 0.50)
            point.latency_p95_ms = _percentile(lat, 0.95)
        late = [r for r in data["late"] if r.get("ok")]
        point.late_join_ice_ms = [r["from_ice_ms"] for r in late if "from_ice_ms" in r]
        point.late_join_total_ms = [r["from_join_ms"] for r in late]
        point.late_first_keyframe = all(r.get("first_is_keyframe") for r in late) if late else None
        return point
    except Exception as exc:  # one failed point must not lose the others
        point.error = f"{type(exc).__name__}: {exc}"
        return point
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        _stop(publisher)
        _stop(server)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _late(values: list[float]) -> str:
    return "–" if not values else f"{max(values):.0f}"


def ratios(points: list[Point]) -> dict[int, float]:
    """Baseline CPU per subscriber ÷ Tongbu's, at every count both ran."""
    sfu = {p.subscribers: p for p in points if p.mode == "tongbu" and not p.error}
    out: dict[int, float] = {}
    for p in points:
        if p.mode == "mediarelay" and not p.error and p.subscribers in sfu:
            mine = sfu[p.subscribers].cpu_per_subscriber
            if mine > 0:
                out[p.subscribers] = p.cpu_per_subscriber / mine
    return out


def marginal(points: list[Point], mode: str) -> float | None:
    """CPU % per additional subscriber: least-squares slope of CPU over subscriber count.

    Why: at one or two subscribers the fixed cost (receiving and depacketizing the
    publisher's stream, signaling) dominates both servers; the slope is what each
    extra classroom costs, the number that decides how many classrooms fit.
    """
    xs = [p.subscribers for p in points if p.mode == mode and not p.error]
    ys = [p.cpu_percent for p in points if p.mode == mode and not p.error]
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mx, my = mean(xs), mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def markdown(points: list[Point], command: str, meta: dict[str, Any]) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {meta['cpus']} cores, {meta['when']}; clip {meta['clip']}",
        "",
        "| server | subs | CPU % (1 core) | CPU %/sub | video fps min / mean | audio fps | "
        "max gap ms | latency p50 / p95 ms | late join: first frame after ICE / after join "
        "(max ms) | subscriber processes: CPU % (count) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        if p.error:
            lines.append(f"| {p.mode} | {p.subscribers} | error: {p.error} ||||||||")
            continue
        lines.append(
            f"| {p.mode} | {p.subscribers} | {p.cpu_percent:.1f} | {p.cpu_per_subscriber:.2f} | "
            f"{p.video_fps_min:.1f} / {p.video_fps_mean:.1f} | {p.audio_fps_mean:.1f} | "
            f"{p.max_gap_ms:.0f} | {_fmt(p.latency_p50_ms)} / {_fmt(p.latency_p95_ms)} | "
            f"{_late(p.late_join_ice_ms)} / {_late(p.late_join_total_ms)} | "
            f"{p.client_cpu_percent:.0f} ({p.client_processes}) |"
        )
    r = ratios(points)
    if r:
        lines.append("")
        lines.append(
            "Ratio (MediaRelay CPU per subscriber ÷ Tongbu's): "
            + ", ".join(f"{n} sub: **{v:.1f}×**" for n, v in sorted(r.items()))
        )
    base, mine = marginal(points, "mediarelay"), marginal(points, "tongbu")
    if base is not None and mine:
        lines.append(
            f"Marginal CPU per extra subscriber: MediaRelay {base:.2f} %, Tongbu {mine:.2f} % "
            f"→ **{base / mine:.0f}×**"
        )
    return "\n".join(lines)


def _counts(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise typer.BadParameter(f"not a list of counts: {text!r}") from None
    if not values or values[0] < 1 or values[-1] > 200:
        raise typer.BadParameter("counts must be between 1 and 200")
    return values


def main(
    subscribers: Annotated[str, typer.Option(help="subscriber counts for Tongbu")] = "1,10,25,50",
    baseline: Annotated[
        str, typer.Option(help="subscriber counts for MediaRelay (it re-encodes: keep small)")
    ] = "1,2",
    resolution: Annotated[str, typer.Option(help="WIDTHxHEIGHT of the video")] = "1280x720",
    fps: Annotated[int, typer.Option(help="frames per second of the clip")] = 30,
    video_kbps: Annotated[int | None, typer.Option(help="clip bitrate (default by size)")] = None,
    warmup: Annotated[float, typer.Option(help="seconds after all subscribers flow")] = 3.0,
    duration: Annotated[float, typer.Option(help="measured seconds per point")] = 10.0,
    late_joins: Annotated[int, typer.Option(help="late joiners timed per point")] = 3,
    per_process: Annotated[
        int, typer.Option(help="subscribers per load-generator process")
    ] = 25,
    out: Annotated[
        Path | None, typer.Option(help="write the JSON results here (default bench-results/)")
    ] = None,
) -> None:
    """One publisher → N subscribers: Tongbu's SFU against aiortc's MediaRelay, same run."""
    try:
        width, height = (int(v) for v in resolution.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"resolution must be WIDTHxHEIGHT, not {resolution!r}") from None
    sfu_counts = _counts(subscribers)
    base_counts = _counts(baseline) if baseline.strip() else []
    sfu_counts = sorted(set(sfu_counts) | set(base_counts))  # ratios need both at a count
    cache = Path(os.environ.get("TONGBU_BENCH_CACHE", Path.home() / ".cache" / "tongbu-bench"))
    console.print(f"clip {width}x{height}@{fps} …")
    clip = ensure_clip(
        cache, width=width, height=height, fps=fps, seconds=10, video_kbps=video_kbps
    )
    plan = [("baseline", n) for n in base_counts] + [("sfu", n) for n in sfu_counts]
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="tongbu-bench-") as tmp, Progress(
        console=console
    ) as progress:
        task = progress.add_task("fanout", total=len(plan))
        for mode, count in plan:
            progress.update(task, description=f"{mode} × {count}")
            points.append(
                run_point(
                    mode, count, clip, warmup=warmup, duration=duration,
                    late_joins=late_joins, workdir=Path(tmp), per_proc=per_process,
                )
            )
            progress.advance(task)
    command = "tongbu bench fanout " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])
    meta = {
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "clip": f"{width}x{height}@{fps} VP8 {clip.stat().st_size * 8 // 10_000} kbps + Opus",
    }
    table = Table(title="tongbu bench fanout")
    for col in ("server", "subs", "CPU %", "CPU %/sub", "fps min/mean", "audio fps",
                "max gap ms", "lat p50/p95 ms", "late join ms (ICE/join)", "client CPU %"):
        table.add_column(col)
    for p in points:
        if p.error:
            table.add_row(p.mode, str(p.subscribers), f"[red]{p.error}[/red]")
            continue
        table.add_row(
            p.mode, str(p.subscribers), f"{p.cpu_percent:.1f}", f"{p.cpu_per_subscriber:.2f}",
            f"{p.video_fps_min:.1f}/{p.video_fps_mean:.1f}", f"{p.audio_fps_mean:.1f}",
            f"{p.max_gap_ms:.0f}", f"{_fmt(p.latency_p50_ms)}/{_fmt(p.latency_p95_ms)}",
            f"{_late(p.late_join_ice_ms)}/{_late(p.late_join_total_ms)}",
            f"{p.client_cpu_percent:.0f} ({p.client_processes})",
        )
    console.print(table)
    for n, v in sorted(ratios(points).items()):
        console.print(f"ratio at {n} subscriber(s): MediaRelay / Tongbu CPU per subscriber = "
                      f"[bold]{v:.1f}×[/bold]")
    base, mine = marginal(points, "mediarelay"), marginal(points, "tongbu")
    if base is not None and mine:
        console.print(f"marginal CPU per extra subscriber: MediaRelay {base:.2f} %, Tongbu "
                      f"{mine:.2f} % → [bold]{base / mine:.0f}×[/bold]")
    target = out or Path("bench-results") / f"fanout-{int(time.time())}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps({"meta": meta, "points": [asdict(p) for p in points]}, indent=2)
    )
    (target.with_suffix(".md")).write_text(markdown(points, command, meta) + "\n")
    console.print(f"results: {target} (markdown next to it)")
    if any(p.error for p in points):
        raise typer.Exit(1)
