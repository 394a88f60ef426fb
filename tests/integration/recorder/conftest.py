"""Shared recordings for the recorder integration tests (built once per session)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from recorder.testsignal import record_synthetic_lesson
from server.app import create_app
from server.auth import Passwords, issue_device_token
from server.db import migrate
from server.db.engine import Database
from server.db.models import Classroom, Recording
from server.seed import DemoSeed, seed_demo
from server.settings import AuthSettings, RecordingSettings, Settings
from server.tokens import TokenType, encode

# The REST suite's `world` (seeded demo world on SQLite and PostgreSQL) for the recording API.
from tests.integration.api.conftest import (  # noqa: F401
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)


@pytest.fixture(scope="session")
def lesson_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 s two-classroom recording of the flash/beep signal, SR-mapped."""
    d = tmp_path_factory.mktemp("lesson") / "lesson-ok"
    record_synthetic_lesson(d)
    return d


# --- a real Tongbu server with a migrated, seeded database (auto_record tests) --------------


SECRET = "recorder-test-secret-" + "z" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LessonServer:
    """uvicorn + the whole app (signaling, SFU, recorder supervisor) on a seeded database."""

    app: FastAPI
    settings: Settings
    seed: DemoSeed
    url: str
    http: httpx.AsyncClient

    def bearer(self, login: str) -> dict[str, str]:
        uid = self.seed.accounts[login].user_id
        token = encode(SECRET, TokenType.ACCESS, {"sub": str(uid)}, 600)
        return {"Authorization": f"Bearer {token}"}

    async def api(self, method: str, path: str, login: str = "admin", **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.bearer(login), **kw)

    async def device_token(self, classroom_id: int) -> str:
        async with self.app.state.db.session() as session:
            room = await session.get(Classroom, classroom_id)
            return issue_device_token(self.settings, room)

    async def join(self, lesson_id: int, token: str) -> tuple[str, str]:
        r = await self.http.post(f"/api/lessons/{lesson_id}/join",
                                 headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()["ws_url"], r.json()["token"]

    _server: Any = None
    _task: Any = None

    async def serve(self, port: int) -> None:
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on",
                                               ws="websockets-sansio"))
        self._server, self._task = server, asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("uvicorn did not start")

    async def shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 60)
            self._server = None

    async def restart(self) -> None:
        """Stop the server (lifespan shutdown included) and start a new app on the same port."""
        port = int(self.url.rsplit(":", 1)[1])
        await self.shutdown()
        self.app = create_app(self.settings)
        await self.serve(port)

    async def recording(self, lesson_id: int) -> Recording:
        async with self.app.state.db.session() as session:
            rec = await session.scalar(sa.select(Recording).where(Recording.lesson_id == lesson_id)
                                       .order_by(Recording.id.desc()).limit(1))
            assert rec is not None, "no recording row for the lesson"
            return rec

    async def wait_recording(self, lesson_id: int, check: Any, within: float,
                             what: str) -> Recording:
        deadline = asyncio.get_running_loop().time() + within
        rec = await self.recording(lesson_id)
        while not check(rec):
            if asyncio.get_running_loop().time() > deadline:
                kinds = [(t["participant"], t["kind"]) for t in rec.tracks]
                raise AssertionError(f"timed out waiting for {what}: state={rec.state} "
                                     f"error={rec.error} tracks={kinds} "
                                     f"restarts={rec.restarts}")
            await asyncio.sleep(0.2)
            rec = await self.recording(lesson_id)
        return rec


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server over real HTTP on 127.0.0.1 (why not MinIO: test_recorder_s3.py)."""
    import moto.server  # noqa: F401  (a test dependency: missing means a broken install)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def lesson_server(tmp_path: Path) -> AsyncIterator[LessonServer]:
    settings = Settings(
        data_dir=tmp_path / "data", secret_key=SECRET, log_level="WARNING",
        auth=AuthSettings(password_time_cost=1, password_memory_kib=64, login_failure_delay=0),
        recording=RecordingSettings(restart_delay=0.2, stop_timeout=20.0),
    )
    settings.signaling.join_timeout = 5.0
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings),
                                   password_for=lambda login: f"pw-{login}-12345")
    finally:
        await db.close()
    port = _free_port()
    # The server's own address, for recorders it resumes after a restart (no request to copy).
    settings.public_url = f"http://127.0.0.1:{port}"
    url = settings.public_url
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        live = LessonServer(create_app(settings), settings, seed, url, http)
        await live.serve(port)
        try:
            yield live
        finally:
            await live.shutdown()
