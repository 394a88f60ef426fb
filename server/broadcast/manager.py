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
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI, Request

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


def get_manager(request: Request) -> BroadcastManager:
    manager: BroadcastManager | None = getattr(request.app.state, "broadcasts", None)
    if manager is None:
        manager = request.app.state.broadcasts = BroadcastManager()
    return manager


async def broadcasts_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Lifespan part: stop every broadcast child when the server stops."""
    manager = BroadcastManager()
    app.state.broadcasts = manager
    stack.push_async_callback(manager.close)
