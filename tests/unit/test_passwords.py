"""argon2 password hashing with costs from settings."""

from __future__ import annotations

from pathlib import Path

from server.auth import Passwords
from server.settings import AuthSettings, Settings


def _passwords(tmp_path: Path, time_cost: int) -> Passwords:
    auth = AuthSettings(password_time_cost=time_cost, password_memory_kib=64)
    return Passwords(Settings(data_dir=tmp_path, auth=auth))


def test_hash_verifies_only_the_right_password(tmp_path: Path) -> None:
    pw = _passwords(tmp_path, 1)
    stored = pw.hash("草原上的小学")
    assert stored.startswith("$argon2id$")
    assert pw.verify(stored, "草原上的小学")
    assert not pw.verify(stored, "wrong")
    assert not pw.verify("not-a-hash", "wrong")


def test_raised_costs_ask_for_a_rehash(tmp_path: Path) -> None:
    cheap = _passwords(tmp_path, 1).hash("secret-password")
    assert not _passwords(tmp_path, 1).needs_rehash(cheap)
    assert _passwords(tmp_path, 2).needs_rehash(cheap)
