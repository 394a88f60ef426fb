"""Helpers of the village tests: publish layers, run a classroom process, watch consumers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from clients.python.client import PublishTrack, TongbuClient
from server.bench.source import LoopingPacketTrack
from server.netlab import School
from server.netlab.serve import Served

REPO = Path(__file__).resolve().parents[3]


async def publish_layers(teacher: TongbuClient, high: Path, low: Path | None = None) -> None:
    """High (and low) camera layers and Opus from pre-encoded clips, paced in real time."""
    tracks = [PublishTrack(LoopingPacketTrack(high, "video"), "camera", "high", "video/VP8")]
    if low is not None:
        tracks.append(PublishTrack(LoopingPacketTrack(low, "video"), "camera", "low", "video/VP8"))
    tracks.append(PublishTrack(LoopingPacketTrack(high, "audio"), "mic", "high", "audio/opus"))
    await teacher.publish(tracks)


async def attend(school: School, url: str, token: str, seconds: float) -> dict[str, Any]:
    """Run the classroom process in the school and return its report."""
    proc = school.spawn(
        [sys.executable, "-m", "server.netlab.classroom", url, token, "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    out, err = await asyncio.to_thread(proc.communicate, timeout=seconds + 60)
    assert proc.returncode == 0, err[-3000:]
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert report["error"] is None, report["error"]
    return report


def arrivals(report: dict[str, Any], kind: str) -> list[float]:
    return next((s["arrivals"] for s in report["streams"].values() if s["kind"] == kind), [])


def video_consumer(served: Served, identity: str) -> Any:
    for room in served.hub.rooms.values():
        for p in room.participants.values():
            if p.claims.identity == identity:
                for sub in p.subscriptions.values():
                    if sub.consumer.kind == "video":
                        return sub.consumer
    return None


async def watch_layers(served: Served, identity: str, until: asyncio.Task[Any]) -> list[tuple]:
    """(monotonic time, layer, audio_only) each time the classroom's video consumer changes."""
    seen: list[tuple[float, Any, bool]] = []
    while not until.done():
        consumer = video_consumer(served, identity)
        if consumer is not None:
            state = (consumer.layer, consumer.audio_only)
            if not seen or seen[-1][1:] != state:
                seen.append((time.monotonic(), *state))
        await asyncio.sleep(0.1)
    return seen
