"""Fixtures of the REST API suite: every test runs on SQLite and on real PostgreSQL.

The schema always comes from the Alembic migrations (never `create_all`):
- SQLite: one file is migrated and seeded per test session, then copied per test;
- PostgreSQL: one database per test process is migrated once; each test truncates
  and seeds it again.
The seeded world is `server.seed.seed_demo` with known passwords.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
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


@pytest.fixture(scope="session")
def pg_migrated(pg_url: str) -> str:
    run_in_thread(lambda: migrate.upgrade(make_settings(Path("/tmp"), pg_url)))
    return pg_url


async def _truncate(settings: Settings) -> None:
    db = Database.from_settings(settings)
    await db.open()
    try:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.session() as session:
            await session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await db.close()


@dataclass
class World:
    """What a test gets: the settings, the app, the seeded ids and an HTTP client."""

    settings: Settings
    app: FastAPI
    seed: DemoSeed
    client: httpx.AsyncClient
    db: Database

    def headers(self, who: str) -> dict[str, str]:
        """Bearer headers for a seeded account name, or "device:<classroom_id>"."""
        if who == "anonymous":
            return {}
        if who.startswith("device:"):
            return {"Authorization": f"Bearer {self.device_tokens[int(who.split(':')[1])]}"}
        account = self.seed.accounts[who]
        token = encode(SECRET, TokenType.ACCESS, {"sub": str(account.user_id)}, 600)
        return {"Authorization": f"Bearer {token}"}

    device_tokens: dict[int, str]

    async def request(self, who: str, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, headers=self.headers(who), **kw)


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, DemoSeed]:
    if request.param == "sqlite":
        template, seed = request.getfixturevalue("sqlite_template")
        target = tmp_path / "tongbu.db"
        shutil.copyfile(template, target)
        return make_settings(tmp_path, f"sqlite+aiosqlite:///{target}"), seed
    url = request.getfixturevalue("pg_migrated")
    settings = make_settings(tmp_path, url)

    async def reset() -> DemoSeed:
        await _truncate(settings)
        return await _seed(settings)

    return settings, run_in_thread(reset)


@pytest.fixture
async def world(db_settings: tuple[Settings, DemoSeed]) -> AsyncIterator[World]:
    settings, seed = db_settings
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db: Database = app.state.db
        async with db.session() as session:
            classrooms = (await session.scalars(sa.select(Classroom))).all()
            device_tokens = {c.id: issue_device_token(settings, c) for c in classrooms}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tongbu.test") as client:
            yield World(
                settings=settings,
                app=app,
                seed=seed,
                client=client,
                db=db,
                device_tokens=device_tokens,
            )
