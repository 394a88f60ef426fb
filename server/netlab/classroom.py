"""A receiving classroom as a process: `python -m server.netlab.classroom URL TOKEN`.

Run inside a `School` namespace (`school.spawn(...)`), it joins with a
`TongbuClient` (no decoding: it taps encoded frames as the recorder does),
subscribes to everything it is given, and after ``--seconds`` prints one JSON
line: per producer its kind and the monotonic arrival time of every frame.
CLOCK_MONOTONIC is shared by all namespaces of the machine, so the parent can
line these times up with the cuts it made.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import typer

from clients.python.client import ReceivedFrame, TongbuClient


async def attend(url: str, token: str, seconds: float, reconnect: bool) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    client = TongbuClient(url, token, decode=False, request_timeout=20.0)
    if reconnect and hasattr(client, "auto_reconnect"):
        client.auto_reconnect = True

    @client.on_frame
    def on_frame(frame: ReceivedFrame) -> None:
        arrivals.setdefault(frame.producer_id, []).append(frame.received_at)
        kinds[frame.producer_id] = frame.kind

    started = time.monotonic()
    joined_at: float | None = None
    error = None
    try:
        await client.join()
        joined_at = time.monotonic()
        await asyncio.sleep(max(seconds - (joined_at - started), 0))
    except Exception as exc:  # reported, not raised: the parent decides
        error = f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return {
        "started": started,
        "joined": joined_at,
        "ended": time.monotonic(),
        "error": error,
        "participant_id": client.participant_id,
        "streams": {pid: {"kind": kinds[pid], "arrivals": t} for pid, t in arrivals.items()},
    }


def main(
    url: str,
    token: str,
    seconds: float = typer.Option(10.0),
    reconnect: bool = typer.Option(True),
) -> None:
    report = asyncio.run(attend(url, token, seconds, reconnect))
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    typer.run(main)
