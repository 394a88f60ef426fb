"""The app's own lifespan runs the delivery worker: a lesson started over REST reaches a
real receiver without anybody calling the worker (SQLite file migrated by Alembic)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.seed import seed_demo
from server.settings import AuthSettings, Settings, SupervisionSettings
from server.tokens import TokenType, encode
from server.webhooks.signing import verify
from tests.integration.webhooks.test_webhooks import Receiver, receiver  # noqa: F401

SECRET = "lifespan-secret-" + "z" * 40


@pytest.fixture
def app_settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        auth=AuthSettings(password_time_cost=1, password_memory_kib=64, login_failure_delay=0),
        supervision=SupervisionSettings(webhook_poll_interval=0.2, webhook_timeout=2.0),
        auto_record=False,  # no recorder process for this lesson
        log_level="WARNING",
    )


def bearer(user_id: int) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {encode(SECRET, TokenType.ACCESS, {'sub': str(user_id)}, 600)}"
    }


async def test_background_worker_delivers_after_rest_start(
    app_settings: Settings,
    receiver: Receiver,  # noqa: F811
) -> None:
    await migrate.upgrade(app_settings)
    db = Database.from_settings(app_settings)
    await db.open()
    async with db.session() as session:
        seed = await seed_demo(session, Passwords(app_settings))
    await db.close()

    app = create_app(app_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tongbu.test") as c:
            county_admin = bearer(seed.accounts["county_admin"].user_id)
            r = await c.post(
                "/api/webhooks",
                json={"org_unit_id": seed.county_id, "url": f"{receiver.base}/ok/lifespan"},
                headers=county_admin,
            )
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]
            lesson_id = seed.lesson_ids[0]
            teacher = bearer(seed.accounts["teacher"].user_id)
            started = await c.post(f"/api/lessons/{lesson_id}/start", headers=teacher)
            assert started.status_code == 200, started.text

            deadline = time.monotonic() + 15
            calls: list[Any] = []
            while time.monotonic() < deadline and not calls:
                calls = receiver.calls.get("ok/lifespan", [])
                await asyncio.sleep(0.1)
            assert calls, "the background worker delivered nothing"
            headers, body = calls[0]
            assert json.loads(body)["event"] == "lesson.started"
            assert verify(secret, headers["x-tongbu-signature"], body, int(time.time()))
            log = await c.get(f"/api/webhooks/{r.json()['id']}/deliveries", headers=county_admin)
            assert [(d["event"], d["state"]) for d in log.json()["items"]] == [
                ("lesson.started", "delivered")
            ]
