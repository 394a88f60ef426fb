"""The socket's edges over a real server: joining, limits, bad input (no media needed)."""

from __future__ import annotations

import json

import httpx

from clients.python import SignalingError, TongbuClient
from server.tokens import RoomRole
from signaling.protocol import CLOSE_CODES, CloseReason, ErrorCode
from tests.integration.signaling.conftest import LiveServer


async def test_message_before_join_is_an_error_and_the_socket_stays_open(
    live_server: LiveServer,
) -> None:
    c = TongbuClient(live_server.url, live_server.token("school"))
    try:
        await c.connect()
        await c.send_raw('{"type":"subscribe","id":"s1","producer_id":"x"}')
        await c.wait_until(lambda: bool(c.errors), within=5)
        assert c.errors[0].code is ErrorCode.NOT_JOINED and c.errors[0].id == "s1"
        joined = await c.join()
        assert joined.room == "lesson-1" and not c.closed.is_set()
    finally:
        await c.leave()


async def test_bad_frames_get_typed_errors(live_server: LiveServer) -> None:
    c = TongbuClient(live_server.url, live_server.token("school"))
    try:
        await c.join()
        cases = {
            "{not json": ErrorCode.MALFORMED,
            "[1, 2]": ErrorCode.MALFORMED,
            '{"type":"teleport","id":"a"}': ErrorCode.UNKNOWN_TYPE,
            '{"type":"subscribe","id":"b"}': ErrorCode.INVALID_MESSAGE,
            '{"type":"ping","v":99,"id":"c"}': ErrorCode.UNSUPPORTED_VERSION,
            '{"type":"answer","sdp":"v=0","id":"d"}': ErrorCode.INVALID_STATE,
            '{"type":"floor_grant","participant_id":"x","id":"e"}': ErrorCode.PERMISSION_DENIED,
            '{"type":"ice","transport":"send","candidate":"x","id":"f"}': ErrorCode.INVALID_STATE,
        }
        for raw in cases:
            await c.send_raw(raw)
        await c.wait_until(lambda: len(c.errors) >= len(cases), within=5)
        assert [e.code for e in c.errors] == list(cases.values())
        await c.ping()  # still answered
    finally:
        await c.leave()


async def test_oversize_message_closes_with_reason(live_server: LiveServer) -> None:
    c = TongbuClient(live_server.url, live_server.token("school"))
    await c.join()
    limit = live_server.settings.signaling.max_message_bytes
    await c.send_raw(json.dumps({"type": "ping", "pad": "x" * limit}))
    await c.wait_until(c.closed.is_set, within=5)
    assert c.close_reason is CloseReason.MESSAGE_TOO_LARGE
    await c.close()
    assert c.close_code == CLOSE_CODES[CloseReason.MESSAGE_TOO_LARGE]
    assert live_server.hub.rooms == {}


async def test_no_join_in_time_closes_with_join_timeout(live_server: LiveServer) -> None:
    c = TongbuClient(live_server.url, live_server.token("school"))
    await c.connect()
    await c.wait_until(c.closed.is_set, within=live_server.settings.signaling.join_timeout + 3)
    assert c.close_reason is CloseReason.JOIN_TIMEOUT
    await c.close()


async def test_bad_token_is_unauthenticated(live_server: LiveServer) -> None:
    c = TongbuClient(live_server.url, "not-a-token")
    try:
        await c.join()
    except SignalingError as exc:
        assert exc.code is ErrorCode.UNAUTHENTICATED
    else:
        raise AssertionError("join with a bad token succeeded")
    await c.wait_until(c.closed.is_set, within=5)
    assert c.close_reason is CloseReason.UNAUTHENTICATED
    await c.close()


async def test_rate_limit_drops_then_closes(live_server: LiveServer) -> None:
    c = TongbuClient(live_server.url, live_server.token("school"))
    await c.join()
    rate = live_server.settings.signaling.max_messages_per_second
    for _ in range(int(rate * 6)):
        await c.send_raw('{"type":"ping"}')
    await c.wait_until(c.closed.is_set, within=5)
    assert any(e.code is ErrorCode.RATE_LIMITED for e in c.errors)
    assert c.close_reason is CloseReason.RATE_LIMITED
    await c.close()


async def test_same_identity_replaces_the_old_session(live_server: LiveServer) -> None:
    first = TongbuClient(live_server.url, live_server.token("school"))
    second = TongbuClient(live_server.url, live_server.token("school"))
    teacher = TongbuClient(live_server.url, live_server.token("teacher", RoomRole.TEACHER))
    try:
        await teacher.join()
        await first.join()
        joined = await second.join()
        assert joined.resume
        await first.wait_until(first.closed.is_set, within=5)
        assert first.close_reason is CloseReason.DUPLICATE_IDENTITY
        await teacher.wait_until(lambda: list(teacher.participants) == [second.participant_id])
    finally:
        for c in (first, second, teacher):
            await c.leave()


async def test_protocol_schema_is_served(live_server: LiveServer) -> None:
    base = live_server.url.replace("ws://", "http://").removesuffix("/ws")
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/api/protocol/schema")
    assert response.status_code == 200
    schema = response.json()
    client_types = set(schema["properties"]["client_to_server"]["discriminator"]["mapping"])
    assert {"join", "publish", "subscribe", "answer", "ice", "floor_grant"} <= client_types
    assert "closed" in schema["properties"]["server_to_client"]["discriminator"]["mapping"]
    assert schema["x-close-reasons"]["message_too_large"] == 1009


async def test_media_worker_metrics_are_in_the_app_registry(live_server: LiveServer) -> None:
    from prometheus_client import generate_latest

    c = TongbuClient(live_server.url, live_server.token("school"))
    try:
        await c.join()
        text = generate_latest(live_server.app.state.metrics).decode()
        rooms = [line for line in text.splitlines() if line.startswith("tongbu_media_rooms")]
        assert rooms and float(rooms[0].split()[-1]) == 1.0
    finally:
        await c.leave()
