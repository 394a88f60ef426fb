"""The REST suite's `world` (SQLite and PostgreSQL) and the signaling suite's live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)
from tests.integration.signaling.conftest import clip, live_server  # noqa: F401  (fixtures)


def window(starts_in: timedelta = timedelta(0), hours: int = 2) -> dict[str, str]:
    start = datetime.now(UTC) + starts_in
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


def err(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert body["code"] == code, body
    return body
