"""Webhooks against a real local HTTP receiver (uvicorn in a thread): one endpoint that
answers, one that fails and one that hangs. SQLite and real PostgreSQL (the `world`)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.db.models import AuditLog, Lesson, LessonState
from server.db.models_supervision import (
    DeliveryState,
    QualitySample,
    WebhookDelivery,
)
from server.settings import SupervisionSettings
from server.webhooks.observer import RoomEventsToWebhooks
from server.webhooks.signing import SIGNATURE_HEADER, verify
from server.webhooks.worker import WebhookWorker
from signaling.observers import RoomEvent
from tests.integration.api.conftest import World


@dataclass
class Receiver:
    base: str
    calls: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    port = _free_port()
    rec = Receiver(base=f"http://127.0.0.1:{port}")

    async def handle(request: Request) -> Response:
        kind = request.path_params["kind"]
        key = f"{kind}/{request.path_params['name']}"
        rec.calls.setdefault(key, []).append((dict(request.headers), await request.body()))
        if kind == "hang":
            await asyncio.sleep(30)
        if kind == "fail":
            return Response("broken", status_code=500)
        return Response(status_code=204)

    app = Starlette(routes=[Route("/{kind}/{name}", handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield rec
    server.should_exit = True
    thread.join(5)


# A 2 s timeout: the hanging receiver costs 3 × 2 s per backend, and a loaded CI machine
# still answers the local 500 in time (it must count as a failure, not a timeout).
FAST = SupervisionSettings(
    webhook_timeout=2.0, webhook_backoff_base=0.1, webhook_backoff_max=0.4, webhook_max_attempts=3
)


async def drain(world: World, worker: WebhookWorker, limit: float = 60.0) -> None:
    """Run the worker until nothing is pending (the test's stand-in for the background task)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await worker.run_once()
        async with world.db.session() as session:
            pending = await session.scalar(
                sa.select(sa.func.count()).where(WebhookDelivery.state == DeliveryState.PENDING)
            )
        if not pending:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("deliveries still pending")


async def make_endpoint(world: World, who: str, unit: int, url: str, **kw: Any) -> dict[str, Any]:
    r = await world.request(
        who, "POST", "/api/webhooks", json={"org_unit_id": unit, "url": url, **kw}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_lesson_events_are_signed_retried_and_logged(
    world: World, receiver: Receiver
) -> None:
    s = world.seed
    tag = world.settings.db_url[:6]  # a receiver path per backend
    ok = await make_endpoint(
        world,
        "county_admin",
        s.county_id,
        f"{receiver.base}/ok/{tag}",
        events=["lesson.started", "lesson.ended"],
    )
    fail = await make_endpoint(world, "county_admin", s.township_id, f"{receiver.base}/fail/{tag}")
    hang = await make_endpoint(world, "admin", s.province_id, f"{receiver.base}/hang/{tag}")
    other = await make_endpoint(
        world, "other_county_admin", s.other_county_id, f"{receiver.base}/ok/other-{tag}"
    )
    assert ok["secret"] and ok["secret_hint"] == "…" + ok["secret"][-4:]

    lesson_id = s.lesson_ids[0]
    started = await world.request("teacher", "POST", f"/api/lessons/{lesson_id}/start")
    assert started.status_code == 200 and started.json()["state"] == "live"
    ended = await world.request("teacher", "POST", f"/api/lessons/{lesson_id}/end")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"

    worker = WebhookWorker(world.db, FAST)
    await drain(world, worker)

    mine = receiver.calls[f"ok/{tag}"]
    assert [h["x-tongbu-event"] for h, _ in mine] == ["lesson.started", "lesson.ended"]
    assert len(receiver.calls[f"fail/{tag}"]) == 2 * 3  # two events, three attempts each
    assert f"ok/other-{tag}" not in receiver.calls
    for headers, body in mine:
        assert verify(ok["secret"], headers[SIGNATURE_HEADER.lower()], body, int(time.time()))
        assert not verify(fail["secret"], headers[SIGNATURE_HEADER.lower()], body, int(time.time()))
        payload = json.loads(body)
        assert payload["data"]["lesson_id"] == lesson_id and payload["id"]

    async def log(endpoint: dict[str, Any], who: str) -> list[dict[str, Any]]:
        r = await world.request(who, "GET", f"/api/webhooks/{endpoint['id']}/deliveries")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    ok_log = await log(ok, "county_admin")
    assert [(d["event"], d["state"], d["attempts"], d["last_status"]) for d in ok_log] == [
        ("lesson.ended", "delivered", 1, 204),
        ("lesson.started", "delivered", 1, 204),
    ]
    fail_log = await log(fail, "county_admin")
    assert {(d["state"], d["attempts"], d["last_status"]) for d in fail_log} == {("failed", 3, 500)}
    assert len(fail_log) == 2 and fail_log[0]["last_error"].startswith("HTTP 500")
    hang_log = await log(hang, "admin")
    assert {(d["state"], d["attempts"]) for d in hang_log} == {("failed", 3)}
    assert all(d["last_error"].startswith("timeout") for d in hang_log)
    assert await log(other, "other_county_admin") == []

    # The lesson itself went on regardless of the failing receivers.
    async with world.db.session() as session:
        lesson = await session.get(Lesson, lesson_id)
        assert lesson is not None and lesson.state is LessonState.ENDED


async def test_queued_events_survive_a_restart(world: World, receiver: Receiver) -> None:
    s = world.seed
    tag = f"restart-{world.settings.db_url[:6]}"
    await make_endpoint(world, "county_admin", s.county_id, f"{receiver.base}/ok/{tag}")
    lesson_id = s.lesson_ids[0]
    assert (await world.request("teacher", "POST", f"/api/lessons/{lesson_id}/start")).is_success
    # No worker ran: the row waits in the database. A worker of a "restarted" server
    # whose predecessor claimed the row and died (lease set, attempt counted) still sends it.
    async with world.db.session() as session:
        row = await session.scalar(sa.select(WebhookDelivery))
        assert row is not None and row.state is DeliveryState.PENDING
        row.attempts = 1
        row.next_attempt_at = row.created_at  # the lease ran out
    await drain(world, WebhookWorker(world.db, FAST))
    bodies = [json.loads(b) for _, b in receiver.calls[f"ok/{tag}"]]
    assert [(b["event"], b["data"]["lesson_id"]) for b in bodies] == [("lesson.started", lesson_id)]
    async with world.db.session() as session:
        row = await session.scalar(sa.select(WebhookDelivery))
        assert row is not None and row.state is DeliveryState.DELIVERED and row.attempts == 2


async def test_room_events_become_participant_webhooks(world: World) -> None:
    s = world.seed
    endpoint = await make_endpoint(world, "county_admin", s.county_id, "http://127.0.0.1:9/never")
    lesson_id = s.lesson_ids[1]
    observer = RoomEventsToWebhooks(world.db)
    room = f"lesson-{lesson_id}"
    r1 = s.receiving_classroom_ids[0]
    await observer(
        RoomEvent(
            name="participant.joined",
            room=room,
            participant_id="PA1",
            identity=f"classroom-{r1}",
            role="classroom",
            data={"hidden": False, "classroom_id": r1},
        )
    )
    await observer(
        RoomEvent(
            name="participant.joined",
            room=room,
            participant_id="PA2",
            identity="user-1",
            role="observer",
            data={"hidden": True},
        )
    )
    quality = {"loss": 0.03, "rtt_ms": 120.0, "low_layer_share": 0.4, "seconds": 600}
    await observer(
        RoomEvent(
            name="participant.left",
            room=room,
            participant_id="PA1",
            identity=f"classroom-{r1}",
            role="classroom",
            data={"hidden": False, "classroom_id": r1, "reason": "left", "quality": quality},
        )
    )
    await observer(RoomEvent(name="floor.changed", room=room))
    await observer(RoomEvent(name="participant.joined", room="adhoc-room"))
    r = await world.request("county_admin", "GET", f"/api/webhooks/{endpoint['id']}/deliveries")
    items = r.json()["items"]
    assert [(d["event"], d["payload"]["data"]["participant_id"]) for d in items] == [
        ("participant.left", "PA1"),
        ("participant.joined", "PA1"),
    ]
    assert items[0]["payload"]["data"]["reason"] == "left"
    async with world.db.session() as session:
        sample = await session.scalar(sa.select(QualitySample))
    assert sample is not None and sample.lesson_id == lesson_id and sample.classroom_id == r1
    assert (sample.loss, sample.rtt_ms, sample.low_layer_share) == (0.03, 120.0, 0.4)


async def test_endpoint_crud_checks_scope_and_input(world: World) -> None:
    s = world.seed
    url = "https://receiver.example/hook"
    bad_url = await world.request(
        "county_admin", "POST", "/api/webhooks", json={"org_unit_id": s.county_id, "url": "ftp://x"}
    )
    assert bad_url.status_code == 422
    bad_event = await world.request(
        "county_admin",
        "POST",
        "/api/webhooks",
        json={"org_unit_id": s.county_id, "url": url, "events": ["lesson.exploded"]},
    )
    assert bad_event.status_code == 422
    outside = await world.request(
        "county_admin", "POST", "/api/webhooks", json={"org_unit_id": s.other_county_id, "url": url}
    )
    assert outside.status_code == 403
    teacher = await world.request(
        "teacher", "POST", "/api/webhooks", json={"org_unit_id": s.main_school_id, "url": url}
    )
    assert teacher.status_code == 403

    created = await make_endpoint(world, "county_admin", s.county_id, url)
    eid = created["id"]
    for method in ("GET", "PATCH", "DELETE"):
        r = await world.request("other_county_admin", method, f"/api/webhooks/{eid}", json={})
        assert r.status_code == 403, (method, r.text)
    listed = await world.request("other_county_admin", "GET", "/api/webhooks")
    assert listed.json()["total"] == 0
    listed = await world.request("admin", "GET", "/api/webhooks")
    assert [e["id"] for e in listed.json()["items"]] == [eid] and "secret" not in listed.json()[
        "items"
    ][0]

    patched = await world.request(
        "county_admin",
        "PATCH",
        f"/api/webhooks/{eid}",
        json={"is_active": False, "rotate_secret": True},
    )
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert patched.json()["secret"] != created["secret"]
    assert (
        await world.request("county_admin", "DELETE", f"/api/webhooks/{eid}")
    ).status_code == 204
    assert (await world.request("county_admin", "GET", f"/api/webhooks/{eid}")).status_code == 404
    async with world.db.session() as session:
        actions = list(
            await session.scalars(
                sa.select(AuditLog.action)
                .where(AuditLog.action.like("webhook.%"))
                .order_by(AuditLog.id)
            )
        )
    assert actions == ["webhook.created", "webhook.updated", "webhook.deleted"]


def test_backoff_doubles_and_caps() -> None:
    worker = WebhookWorker.__new__(WebhookWorker)
    worker.settings = SupervisionSettings(webhook_backoff_base=2, webhook_backoff_max=10)
    assert [worker.backoff(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


async def test_recording_ready_reported_by_the_recorder_is_announced(world: World) -> None:
    from server.db.models import Recording, RecordingState
    from server.tokens import RoomRole, issue_room_token
    from tests.integration.api.conftest import SECRET

    s = world.seed
    endpoint = await make_endpoint(
        world, "county_admin", s.county_id, "http://127.0.0.1:9/r", events=["recording.ready"]
    )
    lesson_id = s.lesson_ids[0]
    async with world.db.session() as session:
        rec = Recording(lesson_id=lesson_id, state=RecordingState.RECORDING, storage_key="rec-1")
        session.add(rec)
        await session.flush()
        rec_id = rec.id
    token = issue_room_token(
        SECRET, room=f"lesson-{lesson_id}", identity="recorder", role=RoomRole.RECORDER, ttl=60
    )
    manifest = {
        "recording_id": "rec-1",
        "tracks": [
            {
                "id": "t1",
                "kind": "video",
                "segments": [{"start_offset_ms": 0, "duration_ms": 5000, "bytes": 1000}],
            }
        ],
    }
    r = await world.client.post(
        f"/api/recordings/{rec_id}/report",
        json={"state": "ready", "manifest": manifest},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    log = await world.request("county_admin", "GET", f"/api/webhooks/{endpoint['id']}/deliveries")
    items = log.json()["items"]
    assert [(d["event"], d["payload"]["data"]["recording_id"]) for d in items] == [
        ("recording.ready", rec_id)
    ]
    assert items[0]["payload"]["data"]["lesson_id"] == lesson_id


async def test_ping_reaches_one_endpoint_signed(world: World, receiver: Receiver) -> None:
    s = world.seed
    tag = f"ping-{world.settings.db_url[:6]}"
    endpoint = await make_endpoint(world, "county_admin", s.county_id, f"{receiver.base}/ok/{tag}")
    other = await make_endpoint(world, "county_admin", s.county_id, f"{receiver.base}/ok/x{tag}")
    r = await world.request("county_admin", "POST", f"/api/webhooks/{endpoint['id']}/ping")
    assert r.status_code == 202 and r.json()["event"] == "webhook.ping"
    denied = await world.request(
        "other_county_admin", "POST", f"/api/webhooks/{endpoint['id']}/ping"
    )
    assert denied.status_code == 403
    await drain(world, WebhookWorker(world.db, FAST))
    [(headers, body)] = receiver.calls[f"ok/{tag}"]
    assert headers["x-tongbu-event"] == "webhook.ping"
    assert verify(endpoint["secret"], headers[SIGNATURE_HEADER.lower()], body, int(time.time()))
    assert f"ok/x{tag}" not in receiver.calls and other["id"] != endpoint["id"]
