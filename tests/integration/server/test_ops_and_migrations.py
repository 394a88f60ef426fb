"""The app's real lifespan, readiness and metrics; migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.app import create_app
from server.db import migrate
from server.db.engine import Database
from server.db.tables import Base
from server.settings import Settings
from tests.integration.api.conftest import run_in_thread


@pytest.fixture
def own_pg_database(pg_url: str) -> Iterator[str]:
    """A database of its own: these tests drop the schema, the shared one must not suffer."""
    import asyncpg

    name = f"tongbu_mig_{uuid.uuid4().hex[:10]}"
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


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    if request.param == "sqlite":
        return lambda: f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    url = str(request.getfixturevalue("own_pg_database"))
    return lambda: url


@pytest.fixture
def ops_settings(tmp_path: Path, db_url: Callable[[], str]) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db_url(), log_level="WARNING")


async def _client_call(settings: Settings, *paths: str) -> list[httpx.Response]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.get(p) for p in paths]


async def test_ready_when_database_answers_and_metrics_exported(ops_settings: Settings) -> None:
    await migrate.upgrade(ops_settings)
    health, ready, metrics = await _client_call(
        ops_settings, "/api/health", "/api/ready", "/metrics"
    )
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert metrics.status_code == 200
    assert "tongbu_uptime_seconds" in metrics.text
    assert 'tongbu_db_pool_connections{state="idle"}' in metrics.text
    assert 'tongbu_http_requests_total{method="GET",route="/api/ready",status="200"} 1.0' in (
        metrics.text
    )


async def test_not_ready_when_database_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        log_level="WARNING",
        database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none",
    )
    (ready,) = await _client_call(settings, "/api/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"


async def test_migrations_match_the_models(ops_settings: Settings) -> None:
    await migrate.upgrade(ops_settings)
    db = Database.from_settings(ops_settings)
    await db.open()
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata
                )
            )
    finally:
        await db.close()
    assert diff == []


async def test_downgrade_to_base_and_upgrade_again(ops_settings: Settings) -> None:
    await migrate.upgrade(ops_settings)
    assert await migrate.current_revision(ops_settings) == "+".join(migrate.script_heads())
    await migrate.downgrade(ops_settings, "base")
    db = Database.from_settings(ops_settings)
    await db.open()
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await db.close()
    assert set(tables) <= {"alembic_version"}
    await migrate.upgrade(ops_settings)
    assert await migrate.current_revision(ops_settings) == "+".join(migrate.script_heads())


async def test_database_down_is_503_in_the_common_body(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        log_level="CRITICAL",
        secret_key="k" * 40,
        database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none",
    )
    from server.tokens import TokenType, encode

    token = encode(settings.ensure_secret(), TokenType.ACCESS, {"sub": "1"}, 60)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/api/lessons", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service_unavailable"
