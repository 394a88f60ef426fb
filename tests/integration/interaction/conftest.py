"""Interaction tests: a live server on a fresh PostgreSQL database with the demo seed.

Every test gets its own database (created here, dropped afterwards), migrated by
Alembic and seeded by `seed_demo`, and a live lesson whose classrooms join as
real `TongbuClient`s over the WebSocket, so events reach `lesson_event` and the
interaction tables for real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from clients.python import TongbuClient
from server.auth import Passwords, issue_device_token
from server.db import migrate
from server.db.engine import Database
from server.db.models import Classroom, Lesson, LessonEvent, LessonState
from server.seed import seed_demo
from server.settings import AuthSettings, NoticeSettings, Settings, SupervisionSettings
from server.tokens import RoomGrants, RoomRole, issue_room_token
from tests.conftest import PG_ADMIN_URL, _port_open, require
from tests.integration.signaling.conftest import LiveServer, clip, live_server  # noqa: F401


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    require(_port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    name = f"tongbu_ia_{uuid.uuid4().hex[:10]}"
    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(tmp_path: Path, pg_database: str) -> Settings:
    """The live server's settings: PostgreSQL, cheap password hashing, no recorder."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=pg_database,
        log_json=True,
        log_level="WARNING",
        auto_record=False,
        auth=AuthSettings(password_time_cost=1, password_memory_kib=64, login_failure_delay=0),
        supervision=SupervisionSettings(webhook_worker=False),
        notices=NoticeSettings(mailer=False),
    )


@dataclass
class Lessonroom:
    """A live lesson of the seeded demo world, and tokens for its people."""

    server: LiveServer
    lesson_id: int
    main_classroom_id: int
    classroom_ids: list[int]
    teacher_user_id: int
    clients: list[TongbuClient]

    @property
    def room(self) -> str:
        return f"lesson-{self.lesson_id}"

    def _token(self, identity: str, role: RoomRole, **kw: Any) -> str:
        return issue_room_token(
            self.server.settings.ensure_secret(),
            room=self.room,
            identity=identity,
            name=identity,
            role=role,
            ttl=600,
            **kw,
        )

    async def _join(self, token: str) -> TongbuClient:
        # Counting encoded frames is enough here; decoding would load the shared CPUs.
        client = TongbuClient(self.server.url, token, decode=False)
        self.clients.append(client)
        await client.join()
        return client

    async def teacher(self) -> TongbuClient:
        return await self._join(
            self._token(
                f"user-{self.teacher_user_id}",
                RoomRole.TEACHER,
                classroom_id=self.main_classroom_id,
                user_id=self.teacher_user_id,
            )
        )

    async def classroom(self, index: int) -> TongbuClient:
        cid = self.classroom_ids[index]
        return await self._join(
            self._token(f"classroom-{cid}", RoomRole.CLASSROOM, classroom_id=cid)
        )

    async def evaluator(self, *, chat: bool | None = None) -> TongbuClient:
        grants = RoomGrants(publish=False, subscribe=True, hidden=True, chat=chat)
        return await self._join(self._token("user-evaluator", RoomRole.EVALUATOR, grants=grants))

    async def events(self, prefix: str = "") -> list[LessonEvent]:
        """The lesson's event log once every queued room event has been handed over."""
        await self.server.hub.events.drain()
        db = Database.from_settings(self.server.settings)
        await db.open()
        try:
            async with db.session() as session:
                rows = await session.scalars(
                    sa.select(LessonEvent)
                    .where(LessonEvent.lesson_id == self.lesson_id)
                    .order_by(LessonEvent.id)
                )
                return [e for e in rows.all() if e.type.startswith(prefix)]
        finally:
            await db.close()

    @property
    def http_url(self) -> str:
        return self.server.url.replace("ws://", "http://").removesuffix("/ws")

    async def bearer(self, login: str) -> str:
        """An access token of a seeded account (the demo's passwords are login * 3)."""
        async with httpx.AsyncClient(base_url=self.http_url, timeout=10) as http:
            r = await http.post("/api/auth/login", json={"login": login, "password": login * 3})
            r.raise_for_status()
            return str(r.json()["access_token"])

    async def device(self, classroom_id: int) -> str:
        """A classroom device's token, as pairing issues it (pairing itself is tested elsewhere)."""
        db = Database.from_settings(self.server.settings)
        await db.open()
        try:
            async with db.session() as session:
                classroom = await session.get(Classroom, classroom_id)
                assert classroom is not None
                return issue_device_token(self.server.settings, classroom)
        finally:
            await db.close()

    async def get(self, path: str, token: str | None) -> httpx.Response:
        await self.server.hub.events.drain()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.http_url, timeout=10) as http:
            return await http.get(path, headers=headers)

    async def rows(self, model: Any) -> list[Any]:
        await self.server.hub.events.drain()
        db = Database.from_settings(self.server.settings)
        await db.open()
        try:
            async with db.session() as session:
                return list((await session.scalars(sa.select(model))).all())
        finally:
            await db.close()


@pytest.fixture
async def lesson(live_server: LiveServer) -> AsyncIterator[Lessonroom]:  # noqa: F811
    settings = live_server.settings
    # The fixture's 3 s answer timeout is tight for several aiortc peers on a busy machine.
    settings.signaling.join_timeout = 15.0
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings), password_for=lambda s: s * 3)
            row = await session.get(Lesson, seed.lesson_ids[0])
            assert row is not None
            row.state = LessonState.LIVE
            row.actual_start = datetime.now(UTC)
            room = Lessonroom(
                live_server,
                row.id,
                row.main_classroom_id,
                list(row.receiving_classroom_ids),
                row.teacher_id,
                [],
            )
    finally:
        await db.close()
    try:
        yield room
    finally:
        for client in room.clients:
            await client.close()
