"""auto_record: one recorder *process* per live lesson, supervised by the server.

Why a process (not a task in the server): the recorder muxes every track and
writes files; it must never take CPU or the GIL from signaling, and it must be
killable and restartable on its own (issue 7: a separate process, scaled apart).
The supervisor here only spawns `python -m recorder`, watches the exit, and
restarts it into the same recording directory (the recorder resumes into a new
segment) while the lesson is live. The recorder reports its progress over REST
with its own short-lived RECORDER room token; no state is shared in memory.

Lifecycle of a job: `start()` (lesson went live) → running → the process dies
→ restart after restart_delay·2ⁿ (at most max_restarts) → `stop()` (lesson
ended, or the poll sees it is no longer live): SIGTERM, and SIGKILL after
stop_timeout → `finish` settles the row if the recorder could not report.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from server.db.models import Lesson, LessonState, Recording, RecordingState
from server.settings import Settings
from server.tokens import RoomRole, issue_room_token

log = structlog.get_logger(__name__)


@dataclass
class RecorderJob:
    lesson_id: int
    recording_id: int
    key: str
    room: str
    lesson_start: datetime
    ws_url: str
    api_url: str
    process: asyncio.subprocess.Process | None = None
    stopping: bool = False
    ended: bool = False  # stopped because the lesson ended (not a server shutdown)
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class RecorderSupervisor:
    """Owns the recorder processes of one server; `close()` stops them all."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.jobs: dict[int, RecorderJob] = {}
        registry = app.state.metrics
        self.m_running = Gauge("tongbu_recorders_running", "Recorder processes running",
                               registry=registry)
        self.m_restarts = Counter("tongbu_recorder_restarts", "Recorder processes restarted",
                                  registry=registry)
        self.m_failed = Counter("tongbu_recorder_gave_up", "Recordings given up after restarts",
                                registry=registry)
        self._poll: asyncio.Task[None] | None = None

    # -- public -------------------------------------------------------------------------
    def start(self, lesson_id: int, recording_id: int, key: str, lesson_start: datetime,
              ws_url: str, api_url: str) -> RecorderJob:
        if lesson_id in self.jobs and not self.jobs[lesson_id].stopping:
            return self.jobs[lesson_id]
        job = RecorderJob(lesson_id, recording_id, key, f"lesson-{lesson_id}", lesson_start,
                          ws_url, api_url.rstrip("/"))
        self.jobs[lesson_id] = job
        job.task = asyncio.get_running_loop().create_task(self._supervise(job),
                                                          name=f"recorder-{lesson_id}")
        if self._poll is None:
            self._poll = asyncio.get_running_loop().create_task(self._watch_lessons())
        return job

    async def stop(self, lesson_id: int, wait: bool = False) -> None:
        """The lesson ended: the recorder finishes its files and reports."""
        job = self.jobs.get(lesson_id)
        if job is None:
            return
        job.stopping = True
        job.ended = True
        self._terminate(job)
        if wait and job.task is not None:
            await asyncio.shield(job.task)

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        jobs = list(self.jobs.values())
        for job in jobs:
            job.stopping = True
            self._terminate(job)
        tasks = [j.task for j in jobs if j.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.recording.stop_timeout + 5)
        await self._interrupted([j for j in jobs if not j.ended])

    async def _interrupted(self, jobs: list[RecorderJob]) -> None:
        """Server shutdown mid-lesson: leave those rows `recording`, to resume at next start."""
        if not jobs:
            return
        try:
            async with self.app.state.db.session() as session:
                for job in jobs:
                    lesson = await session.get(Lesson, job.lesson_id)
                    rec = await session.get(Recording, job.recording_id)
                    if lesson is not None and rec is not None and lesson.state is LessonState.LIVE:
                        rec.state, rec.error, rec.ended_at = RecordingState.RECORDING, None, None
                        log.info("recording interrupted by shutdown", recording_id=rec.id)
        except Exception:
            log.exception("could not mark interrupted recordings")

    # -- internals ----------------------------------------------------------------------
    def _terminate(self, job: RecorderJob) -> None:
        proc = job.process
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _command(self, job: RecorderJob) -> tuple[list[str], dict[str, str]]:
        s = self.settings
        token = issue_room_token(
            s.ensure_secret(), room=job.room, identity="recorder", role=RoomRole.RECORDER,
            ttl=s.recording.token_ttl, name="recorder",
        )
        argv = [
            sys.executable, "-m", "recorder",
            "--room", job.room,
            "--url", job.ws_url,
            "--recording-id", job.key,
            "--lesson-start", job.lesson_start.isoformat(),
            "--report-url", f"{job.api_url}/api/recordings/{job.recording_id}/report",
        ]
        env = dict(os.environ)
        env.update({
            # The token stays out of argv (visible to every user in `ps`).
            "TONGBU_RECORDER_TOKEN": token,
            "TONGBU_DATA_DIR": str(s.data_dir),
            "TONGBU_STORAGE_DIR": str(s.storage_dir),
            "TONGBU_LOG_LEVEL": s.log_level,
        })
        env.pop("TONGBU_SECRET_KEY", None)  # the recorder needs only its token
        return argv, env

    async def _spawn(self, job: RecorderJob) -> asyncio.subprocess.Process:
        argv, env = self._command(job)
        logs = Path(self.settings.data_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"recorder-{job.key}.log", "ab") as out:  # noqa: ASYNC230 - tiny
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,  # a Ctrl-C on the server is not the recorder's
            )
        log.info("recorder started", lesson_id=job.lesson_id, recording=job.key, pid=proc.pid,
                 restart=job.restarts)
        return proc

    async def _supervise(self, job: RecorderJob) -> None:
        rs = self.settings.recording
        try:
            while True:
                job.process = await self._spawn(job)
                self.m_running.inc()
                try:
                    if job.stopping:  # stopped while spawning
                        self._terminate(job)
                    await self._wait(job)
                finally:
                    self.m_running.dec()
                rc = job.process.returncode
                if job.stopping:
                    break
                if job.restarts >= rs.max_restarts:
                    self.m_failed.inc()
                    log.error("recorder gave up", lesson_id=job.lesson_id, returncode=rc,
                              restarts=job.restarts)
                    await self._settle(job, f"recorder died {job.restarts + 1} times "
                                            f"(last exit code {rc})")
                    return
                delay = rs.restart_delay * 2 ** job.restarts
                job.restarts += 1
                self.m_restarts.inc()
                log.warning("recorder died, restarting", lesson_id=job.lesson_id,
                            returncode=rc, delay=delay, restarts=job.restarts)
                await self._count_restart(job)
                await asyncio.sleep(delay)
                if job.stopping:
                    break
            await self._settle(job, None)
        except asyncio.CancelledError:
            self._terminate(job)
            raise
        except Exception:
            log.exception("recorder supervision failed", lesson_id=job.lesson_id)
        finally:
            job.stopped.set()
            if self.jobs.get(job.lesson_id) is job:
                del self.jobs[job.lesson_id]

    async def _wait(self, job: RecorderJob) -> None:
        """Wait for the process; once stopping, give it stop_timeout then SIGKILL."""
        proc = job.process
        assert proc is not None
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.5)
                return
            except TimeoutError:
                pass
            if job.stopping:
                try:
                    await asyncio.wait_for(proc.wait(), self.settings.recording.stop_timeout)
                except TimeoutError:
                    log.error("recorder did not stop, killing it", lesson_id=job.lesson_id)
                    proc.kill()
                    await proc.wait()
                return

    async def _count_restart(self, job: RecorderJob) -> None:
        async with self.app.state.db.session() as session:
            rec = await session.get(Recording, job.recording_id)
            if rec is not None:
                rec.restarts = job.restarts

    async def _settle(self, job: RecorderJob, failure: str | None) -> None:
        """After the last process: a row the recorder could not finish is settled here."""
        from server.api.recording_state import apply_report

        if not job.ended and failure is None:
            return  # a server shutdown: close() leaves the row to be resumed

        async with self.app.state.db.session() as session:
            rec = await session.get(Recording, job.recording_id)
            if rec is None or rec.state in (RecordingState.READY, RecordingState.FAILED):
                return
            manifest = _read_manifest(self.settings, job.key)
            if failure is None and manifest is None:
                failure = "the recorder wrote no manifest"
            if failure is not None:
                await apply_report(session, self.settings, rec, RecordingState.FAILED,
                                   manifest, error=failure)
            else:
                # Killed after stop_timeout, or exited before reporting: the local
                # manifest is the truth (every file up to the kill stays playable).
                await apply_report(session, self.settings, rec, RecordingState.READY, manifest,
                                   size_bytes=_dir_size(self.settings, job.key))
            log.info("recording settled by the supervisor", recording_id=rec.id,
                     state=rec.state.value)

    async def _watch_lessons(self) -> None:
        """Stop recorders of lessons that ended by any path (REST, signaling, an admin tool)."""
        while True:
            await asyncio.sleep(5.0)
            ids = [i for i, j in self.jobs.items() if not j.stopping]
            if not ids:
                continue
            try:
                async with self.app.state.db.session() as session:
                    for lesson_id in ids:
                        lesson = await session.get(Lesson, lesson_id)
                        if lesson is None or lesson.state is not LessonState.LIVE:
                            await self.stop(lesson_id)
            except Exception:
                log.exception("recorder lesson watch failed")


def _read_manifest(settings: Settings, key: str) -> dict[str, Any] | None:
    import json

    assert settings.storage_dir is not None
    path = settings.storage_dir / key / "manifest.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def _dir_size(settings: Settings, key: str) -> int:
    assert settings.storage_dir is not None
    d = settings.storage_dir / key
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) if d.is_dir() else 0


def own_urls(settings: Settings) -> tuple[str, str]:
    """(ws URL, base URL) of this server for recorders started without a request to copy."""
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    ws = "wss://" + base.removeprefix("https://") if base.startswith("https://") else (
        "ws://" + base.removeprefix("http://"))
    return f"{ws}/ws", base


async def resume_live_recordings(supervisor: RecorderSupervisor) -> int:
    """After a server restart: recorders again for lessons still live and being recorded.

    Each resumes its recording directory (a new segment per track, same timeline).
    """
    import sqlalchemy as sa

    settings = supervisor.settings
    if not settings.auto_record:
        return 0
    try:
        async with supervisor.app.state.db.session() as session:
            rows = (await session.execute(
                sa.select(Recording, Lesson)
                .join(Lesson, Lesson.id == Recording.lesson_id)
                .where(Recording.state == RecordingState.RECORDING,
                       Lesson.state == LessonState.LIVE))).tuples().all()
    except Exception as exc:  # an unmigrated database (a bare test app): nothing to resume
        log.warning("recordings not resumed", error=type(exc).__name__)
        return 0
    ws_url, api_url = own_urls(settings)
    for rec, lesson in rows:
        start = lesson.actual_start or rec.started_at
        assert start is not None
        supervisor.start(lesson.id, rec.id, rec.storage_key, start, ws_url, api_url)
        log.info("recording resumed after a server restart", lesson_id=lesson.id,
                 recording=rec.storage_key)
    return len(rows)


async def supervisor_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Lifespan piece: the supervisor lives as long as the app; shutdown stops every recorder."""
    supervisor = RecorderSupervisor(app, settings)
    app.state.recorder_supervisor = supervisor
    stack.push_async_callback(supervisor.close)
    await resume_live_recordings(supervisor)
