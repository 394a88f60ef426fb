"""`tongbu bench stats` runs end to end on a small province (a smoke test of the command,
not a timing: the numbers come from the real run recorded in docs/benchmarks.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from server.bench.cli import bench_app
from tests.integration.api.conftest import run_in_thread


@pytest.fixture
def bench_db(pg_url: str) -> Iterator[str]:
    import asyncpg

    name = f"tongbu_bench_{uuid.uuid4().hex[:8]}"
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


@pytest.mark.pg
def test_bench_stats_seeds_and_times_every_report(bench_db: str) -> None:
    args = ["stats", "--schools", "40", "--weeks", "1", "--runs", "1", "--database-url", bench_db]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    for report in ("province summary", "city → counties", "school lessons"):
        assert report in result.output
    assert "slowest run" in result.output

    async def count() -> tuple[int, int]:
        engine = create_async_engine(bench_db)
        try:
            async with engine.connect() as conn:
                lessons = (await conn.execute(sa.text("SELECT count(*) FROM lesson"))).scalar()
                schools = (
                    await conn.execute(
                        sa.text("SELECT count(*) FROM org_unit WHERE level = 'school'")
                    )
                ).scalar()
        finally:
            await engine.dispose()
        return int(lessons or 0), int(schools or 0)

    lessons, schools = run_in_thread(count)
    # 40 schools: one per township of the first 40 townships, a main classroom in each
    # (the first school of a township); 4 lessons × 5 school days each.
    assert schools == 40 and lessons == 40 * 4 * 5

    again = CliRunner().invoke(bench_app, args)  # a second run reuses the province
    assert again.exit_code == 0 and "reusing the bench province" in again.output
