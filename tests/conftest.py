"""Shared fixtures: real services on 127.0.0.1. Under CI=true a missing service fails the test."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.settings import Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get(
    "TONGBU_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TONGBU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("TONGBU_TEST_CHROMIUM", "/usr/bin/chromium")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(available: bool, what: str) -> None:
    """Skip locally when a service is absent, but fail under CI=true."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available", pytrace=False)
    pytest.skip(f"{what} not available")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings in a fresh data dir (SQLite file, local storage)."""
    return Settings(data_dir=tmp_path / "data", log_json=True, log_level="WARNING")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    require(_port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    name = f"tongbu_{uuid.uuid4().hex[:12]}"
    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    require(_port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None, "Debian chromium")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
