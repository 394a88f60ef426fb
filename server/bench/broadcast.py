"""`tongbu bench broadcast`: what one TV output costs (compose in Python + encode in ffmpeg).

Feeds the real compositor (`server.broadcast.compose`) with decoded frames of a
moving picture at the camera's size and runs the real live encoder path
(`Broadcast.run` → ffmpeg libx264/AAC → MPEG-TS over UDP to localhost) for a
few seconds. Reports the encoder's speed (1.0 = real time), frames sent, the
compose time per frame and the CPU used by this process and by ffmpeg.
`--layout pip` adds a shared screen with the camera picture-in-picture.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Annotated, Any

import av
import numpy as np
import psutil
import typer
from rich.console import Console
from rich.table import Table

from server.broadcast.compose import Compositor
from server.broadcast.ffmpeg import live_argv
from server.broadcast.session import Broadcast, BroadcastOptions
from server.broadcast.status import BroadcastStatus
from server.broadcast.target import parse_target


def _frames(width: int, height: int, n: int) -> list[Any]:
    """n distinct moving frames (a gradient that scrolls), decoded-frame objects."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    out = []
    for i in range(n):
        row = ((x + i * 8) % 256).astype(np.uint8)
        rgb = np.stack([np.tile(row, (height, 1))] * 3, axis=-1)
        out.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return out


def _ffmpeg_children() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True) if c.name() == "ffmpeg"]


async def _run(width: int, height: int, fps: int, seconds: float, layout: str,
               camera: tuple[int, int]) -> dict[str, float]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = parse_target(f"udp://127.0.0.1:{port}")
    opts = BroadcastOptions(width=width, height=height, fps=fps, bitrate_kbps=2500,
                            duration=seconds, max_retries=0)
    comp = Compositor(width, height, fps)
    frames = _frames(*camera, 30)
    screens = _frames(1280, 720, 5) if layout == "pip" else []
    compose_ms: list[float] = []
    original = comp.video_frame

    def timed() -> bytes:
        t0 = time.perf_counter()
        data = original()
        compose_ms.append((time.perf_counter() - t0) * 1000)
        return data

    comp.video_frame = timed  # type: ignore[method-assign]

    async def camera_feed() -> None:
        i = 0
        while True:
            comp.main = frames[i % len(frames)]
            if screens:
                comp.screen = screens[(i // fps) % len(screens)]
            i += 1
            await asyncio.sleep(1 / fps)

    status = BroadcastStatus("bench", target.redacted)
    b = Broadcast(target, opts, status)
    feeder = asyncio.create_task(camera_feed())
    me = psutil.Process()
    cpu0 = me.cpu_times()
    ffmpeg_cpu = 0.0
    run = asyncio.create_task(b.run(lambda: live_argv(target, width=width, height=height,
                                                      fps=fps, bitrate_kbps=2500),
                                    live=comp, finite=False))
    t0 = time.monotonic()
    while not run.done():
        for child in _ffmpeg_children():
            try:
                t = child.cpu_times()
                ffmpeg_cpu = max(ffmpeg_cpu, t.user + t.system)
            except psutil.Error:
                pass
        await asyncio.sleep(0.5)
    wall = time.monotonic() - t0
    feeder.cancel()
    cpu1 = me.cpu_times()
    final = await run
    return {
        "wall_s": wall,
        "frames": final.frames,
        "speed": final.speed,
        "fps_sent": final.frames / max(0.001, final.out_time_s or wall),
        "compose_p50_ms": statistics.median(compose_ms) if compose_ms else 0.0,
        "compose_p95_ms": (statistics.quantiles(compose_ms, n=20)[18]
                           if len(compose_ms) > 20 else 0.0),
        "python_cpu_pct": 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / wall,
        "ffmpeg_cpu_pct": 100 * ffmpeg_cpu / wall,
    }


def main(
    size: Annotated[str, typer.Option(help="Output size.")] = "1280x720",
    fps: Annotated[int, typer.Option(min=5, max=60)] = 25,
    seconds: Annotated[float, typer.Option(min=2)] = 10.0,
    layout: Annotated[str, typer.Option(help="camera (full frame) or pip (screen + camera)")]
    = "camera",
    camera: Annotated[str, typer.Option(help="Size of the decoded camera frames.")] = "640x480",
) -> None:
    """Measure one TV output: encoder speed, frames, compose time, CPU of Python and ffmpeg."""
    if layout not in ("camera", "pip"):
        raise typer.BadParameter("layout is camera or pip")
    w, h = (int(x) for x in size.split("x"))
    cw, ch = (int(x) for x in camera.split("x"))
    r = asyncio.run(_run(w, h, fps, seconds, layout, (cw, ch)))
    table = Table(title=f"broadcast {size}@{fps} layout={layout} camera={camera}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in r.items():
        table.add_row(key, f"{value:.2f}")
    Console().print(table)
