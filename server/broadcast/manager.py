"""Broadcasts started through the API: each one a `python -m server.broadcast` process.

Why a child process rather than a task in the server: a live broadcast decodes
video and composes pictures in Python, which must not share the server's event
loop and GIL with signaling and the API; a child can also be killed without
harm. The child prints one JSON status per second (`--json`); the manager keeps
the latest per broadcast. State is per server process and in memory: a server
restart stops its broadcasts (they are started again by whoever needs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from server.broadcast.status import BroadcastStatus
from server.errors import Conflict
from server.settings import Settings

log = structlog.get_logger("tongbu.broadcast.manager")
MAX_RUNNING = 4


@dataclass
class BroadcastJob:
    id: int
    source: str
    started_by: str
    scope_path: str  # org path of the school whose lesson/recording it sends
    status: BroadcastStatus
    proc: asyncio.subprocess.Process | None = None
    reader: asyncio.Task[None] | None = None
    stderr_tail: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class BroadcastManager:
    def __init__(self) -> None:
        self.jobs: dict[int, BroadcastJob] = {}
        self._ids = itertools.count(1)

    async def start(self, args: list[str], *, source: str, target: str, started_by: str,
                    scope_path: str, env: dict[str, str] | None = None) -> BroadcastJob:
        if sum(1 for j in self.jobs.values() if j.running) >= MAX_RUNNING:
            raise Conflict(f"at most {MAX_RUNNING} broadcasts run at once on this server")
        job = BroadcastJob(next(self._ids), source, started_by, scope_path,
                           BroadcastStatus(source=source, target=target))
        job.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.broadcast", *args, "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        job.reader = asyncio.create_task(self._read(job))
        self.jobs[job.id] = job
        log.info("broadcast started", id=job.id, source=source, target=target, by=started_by)
        return job

    async def _read(self, job: BroadcastJob) -> None:
        assert job.proc is not None and job.proc.stdout is not None
        assert job.proc.stderr is not None

        async def errors() -> None:
            assert job.proc is not None and job.proc.stderr is not None
            async for raw in job.proc.stderr:
                line = raw.decode(errors="replace").strip()
                if line:
                    job.stderr_tail = [*job.stderr_tail[-9:], line]

        err_task = asyncio.create_task(errors())
        async for raw in job.proc.stdout:
            with contextlib.suppress(ValueError, TypeError):
                job.status = BroadcastStatus.from_json(raw.decode())
        rc = await job.proc.wait()
        await err_task
        if not job.status.done:
            # The child died without a final status (killed, crashed, bad arguments).
            job.status.state = "failed" if rc not in (0, -signal.SIGTERM) else "stopped"
            job.status.last_error = job.status.last_error or (
                job.stderr_tail[-1] if job.stderr_tail else f"exit status {rc}")
        log.info("broadcast ended", id=job.id, state=job.status.state, rc=rc)

    async def stop(self, job: BroadcastJob, grace: float = 10.0) -> BroadcastJob:
        if job.running and job.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                job.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(job.proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    job.proc.kill()
        if job.reader is not None:
            await asyncio.gather(job.reader, return_exceptions=True)
        return job

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(j) for j in self.jobs.values()),
                             return_exceptions=True)


class BroadcastCollector:
    """Prometheus view of the broadcasts: how many run, and each one's health."""

    def __init__(self, manager: BroadcastManager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        jobs = list(self.manager.jobs.values())
        running = GaugeMetricFamily("tongbu_broadcasts_running", "Broadcasts running now")
        running.add_metric([], sum(1 for j in jobs if j.running))
        yield running
        labels = ["broadcast", "source"]
        frames = CounterMetricFamily("tongbu_broadcast_frames", "Video frames sent", labels=labels)
        reconnects = CounterMetricFamily("tongbu_broadcast_reconnects",
                                         "Output restarts after a failure", labels=labels)
        bitrate = GaugeMetricFamily("tongbu_broadcast_bitrate_kbps", "Output bitrate",
                                    labels=labels)
        for j in jobs:
            key = [str(j.id), j.source]
            frames.add_metric(key, j.status.frames)
            reconnects.add_metric(key, j.status.reconnects)
            bitrate.add_metric(key, j.status.bitrate_kbps)
        yield from (frames, reconnects, bitrate)


def _install(state: object, registry: CollectorRegistry | None) -> BroadcastManager:
    manager = BroadcastManager()
    if registry is not None:
        registry.register(BroadcastCollector(manager))
    state.broadcasts = manager  # type: ignore[attr-defined]
    return manager


def get_manager(request: Request) -> BroadcastManager:
    """The app's manager (made on first use when the lifespan did not run, as in tests)."""
    manager: BroadcastManager | None = getattr(request.app.state, "broadcasts", None)
    if manager is None:
        manager = _install(request.app.state, getattr(request.app.state, "metrics", None))
    return manager


async def broadcasts_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Lifespan part: metrics, and stop every broadcast child when the server stops."""
    manager = getattr(app.state, "broadcasts", None) or _install(app.state, app.state.metrics)
    stack.push_async_callback(manager.close)
