from pathlib import Path

import pytest
from pydantic import ValidationError

from server.settings import MediaSettings, Settings


def test_embedded_default_uses_sqlite_and_local_storage(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.db_url.startswith("sqlite+aiosqlite:///")
    assert s.storage_dir == tmp_path / "recordings"
    assert s.is_sqlite


def test_database_url_env_switches_to_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBU_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    assert not Settings().is_sqlite


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).ensure_secret()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).ensure_secret() == first


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(secret_key="short")


def test_half_port_range_is_rejected() -> None:
    with pytest.raises(ValidationError):
        MediaSettings(udp_port_min=40000)
