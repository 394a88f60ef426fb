"""The `tongbu` command line, run in-process with typer's runner from another directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.cli import app
from server.db import migrate


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # not the repo: the packaged alembic.ini must be found
    return {
        "TONGBU_DATA_DIR": str(tmp_path / "data"),
        "TONGBU_LOG_LEVEL": "WARNING",
        "TONGBU_AUTH__PASSWORD_TIME_COST": "1",
        "TONGBU_AUTH__PASSWORD_MEMORY_KIB": "64",
    }


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(app, ["--help"]).output
    for command in ("serve", "demo", "db", "admin"):
        assert command in out


def test_db_upgrade_from_any_directory(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"database at {'+'.join(migrate.script_heads())}" in result.output
    assert (tmp_path / "data" / "tongbu.db").exists()


def test_admin_create_makes_root_unit_and_refuses_duplicates(env: dict[str, str]) -> None:
    args = [
        "admin",
        "create",
        "--login",
        "root",
        "--password",
        "very-secret-1",
        "--unit",
        "内蒙古自治区",
    ]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "admin 'root' created" in first.output
    second = CliRunner().invoke(app, args, env=env)
    assert second.exit_code == 1


def test_demo_seed_only_prints_accounts_and_urls(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["demo", "--seed-only"], env=env)
    assert result.exit_code == 0, result.output
    for text in ("teacher", "evaluator", "county_admin", "/docs", "/teacher"):
        assert text in result.output
    again = CliRunner().invoke(app, ["demo", "--seed-only"], env=env)
    assert "not seeding again" in again.output
