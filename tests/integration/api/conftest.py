"""Fixtures of the REST API suite: every test runs on SQLite and on real PostgreSQL.

The schema always comes from the Alembic migrations (never `create_all`):
- SQLite: one file is migrated and seeded per test session, then copied per test;
- PostgreSQL: one database per test process is migrated and seeded once and
  copied into a snapshot schema; each test restores the snapshot (one round trip).
One app per backend serves every test; the test swaps a fresh `app.state.db` in.
The seeded world is `server.seed.seed_demo` with known passwords.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from server.app import create_app
from server.auth import Passwords, issue_device_token
from server.db import migrate
from server.db.engine import Database
from server.db.models import Base, Classroom
from server.seed import DemoSeed, seed_demo
from server.settings import AuthSettings, Settings
from server.tokens import TokenType, encode

FAST_AUTH = AuthSettings(password_time_cost=1, password_memory_kib=64, login_failure_delay=0)
SECRET = "test-secret-" + "x" * 40


def run_in_thread(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine on its own loop in a thread: safe whether or not a loop is running."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def password_for(login: str) -> str:
    return f"pw-{login}-12345"


def make_settings(data_dir: Path, url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=SECRET,
        auth=FAST_AUTH,
        log_level="WARNING",
    )


async def _seed(settings: Settings) -> DemoSeed:
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            return await seed_demo(session, Passwords(settings), password_for=password_for)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSeed]:
    path = tmp_path_factory.mktemp("template") / "tongbu.db"
    settings = make_settings(path.parent, f"sqlite+aiosqlite:///{path}")

    async def build() -> DemoSeed:
        await migrate.upgrade(settings)
        return await _seed(settings)

    return path, run_in_thread(build)


SNAPSHOT = "tongbu_test_snapshot"


@pytest.fixture(scope="session")
def api_pg_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL database of the API suite's own, next to the shared `pg_url` one."""
    import asyncpg

    name = f"tongbu_api_{uuid.uuid4().hex[:10]}"
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_in_thread(lambda: run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{pg_url.rsplit('/', 1)[0]}/{name}"
    finally:
        run_in_thread(lambda: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_seeded(api_pg_url: str) -> tuple[str, DemoSeed]:
    """Migrate and seed once, then keep a copy of every table in a snapshot schema."""
    pg_url = api_pg_url
    settings = make_settings(Path("/tmp"), pg_url)

    async def build() -> DemoSeed:
        await migrate.upgrade(settings)
        seed = await _seed(settings)
        db = Database.from_settings(settings)
        await db.open()
        try:
            async with db.session() as session:
                await session.execute(sa.text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE"))
                await session.execute(sa.text(f"CREATE SCHEMA {SNAPSHOT}"))
                for table in Base.metadata.sorted_tables:
                    await session.execute(
                        sa.text(
                            f'CREATE TABLE {SNAPSHOT}."{table.name}" '
                            f'AS SELECT * FROM "{table.name}"'
                        )
                    )
        finally:
            await db.close()
        return seed

    return pg_url, run_in_thread(build)


def _restore_script() -> str:
    """One SQL script: empty every table, copy the snapshot back, move the id sequences on."""
    tables = Base.metadata.sorted_tables
    lines = [f'DELETE FROM "{t.name}";' for t in reversed(tables)]
    lines += [f'INSERT INTO "{t.name}" SELECT * FROM {SNAPSHOT}."{t.name}";' for t in tables]
    for t in tables:
        if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement:
            lines.append(
                f"SELECT setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{t.name}"), false);'
            )
    return "\n".join(lines)


async def _restore(db: Database) -> None:
    """Run the restore script in one round trip (asyncpg's simple query protocol)."""
    async with db.engine.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(_restore_script())  # type: ignore[union-attr]


@dataclass
class World:
    """What a test gets: the settings, the app, the seeded ids and an HTTP client."""

    settings: Settings
    app: FastAPI
    seed: DemoSeed
    client: httpx.AsyncClient
    db: Database

    def headers(self, who: str) -> dict[str, str]:
        """Bearer headers for a seeded account name, "user:<id>" or "device:<classroom_id>"."""
        if who == "anonymous":
            return {}
        if who.startswith("device:"):
            return {"Authorization": f"Bearer {self.device_tokens[int(who.split(':')[1])]}"}
        user_id = int(who[5:]) if who.startswith("user:") else self.seed.accounts[who].user_id
        token = encode(SECRET, TokenType.ACCESS, {"sub": str(user_id)}, 600)
        return {"Authorization": f"Bearer {token}"}

    device_tokens: dict[int, str]

    async def request(self, who: str, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, headers=self.headers(who), **kw)


@dataclass
class Backend:
    """One app per database kind for the whole session (FastAPI builds routes lazily per
    app, ~0.1 s, so apps are reused); each test gets a fresh database behind it."""

    kind: str
    settings: Settings
    app: FastAPI
    template: Path | None = None
    seed: DemoSeed | None = None


@pytest.fixture(scope="session", params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    data_dir = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        template, seed = request.getfixturevalue("sqlite_template")
        settings = make_settings(data_dir, f"sqlite+aiosqlite:///{data_dir / 'tongbu.db'}")
        return Backend("sqlite", settings, create_app(settings), template, seed)
    url, seed = request.getfixturevalue("pg_seeded")
    settings = make_settings(data_dir, url)
    return Backend("pg", settings, create_app(settings), None, seed)


async def fresh_database(backend: Backend) -> tuple[Database, DemoSeed]:
    """SQLite: copy the migrated+seeded template file; PostgreSQL: restore the snapshot."""
    settings = backend.settings
    if backend.kind == "sqlite":
        assert backend.template is not None and backend.seed is not None
        target = Path(settings.db_url.split("///", 1)[1])
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - tiny, local
        shutil.copyfile(backend.template, target)
        db = Database.from_settings(settings)
        await db.open()
        return db, backend.seed
    assert backend.seed is not None
    db = Database.from_settings(settings)
    await db.open()
    await _restore(db)
    return db, backend.seed


@pytest.fixture
async def world(backend: Backend) -> AsyncIterator[World]:
    db, seed = await fresh_database(backend)
    app = backend.app
    app.state.db = db
    try:
        async with db.session() as session:
            classrooms = (await session.scalars(sa.select(Classroom))).all()
            device_tokens = {c.id: issue_device_token(backend.settings, c) for c in classrooms}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tongbu.test") as client:
            yield World(
                settings=backend.settings,
                app=app,
                seed=seed,
                client=client,
                db=db,
                device_tokens=device_tokens,
            )
    finally:
        app.state.db = None
        await db.close()
