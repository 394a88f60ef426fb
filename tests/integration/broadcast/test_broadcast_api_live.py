"""A live lesson sent to TV through the API: the server starts the broadcaster as its own
process, which joins the room, decodes the teacher and feeds ffmpeg; status comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.python.client import TongbuClient
from server.tokens import RoomRole, TokenType, encode, issue_room_token

from .checks import probe
from .test_broadcast_courseware import _live_lesson

pytestmark = [pytest.mark.slow, pytest.mark.media]


async def test_api_broadcasts_a_live_lesson_from_its_own_process(
    live_server: Any, clip: Path, receivers: Any
) -> None:
    lesson_id, teacher_id = await _live_lesson(live_server)
    secret = live_server.settings.ensure_secret()
    base = live_server.url.replace("ws://", "http://").removesuffix("/ws")
    headers = {"Authorization": "Bearer "
               + encode(secret, TokenType.ACCESS, {"sub": str(teacher_id)}, 600)}
    teacher = TongbuClient(live_server.url, issue_room_token(
        secret, room=f"lesson-{lesson_id}", identity=f"user-{teacher_id}",
        role=RoomRole.TEACHER, ttl=600, name="teacher", user_id=teacher_id))
    rx = receivers("udp", 3)
    await teacher.join()
    try:
        await teacher.publish_file(clip, loop=True)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            r = await http.post("/api/broadcasts", json={
                "lesson_id": lesson_id, "to": rx.url, "width": 320, "height": 240, "fps": 15,
                "bitrate_kbps": 300})
            assert r.status_code == 201, r.text
            bid = r.json()["id"]
            body: dict[str, Any] = {}
            for _ in range(150):  # up to 30 s on a loaded machine
                body = (await http.get(f"/api/broadcasts/{bid}")).json()
                if body["inputs"].get("main", 0) >= 5 and body["frames"] >= 30:
                    break
                await asyncio.sleep(0.2)
            assert body["state"] == "running" and body["inputs"].get("main", 0) >= 5, str(body)
            r = await http.post(f"/api/broadcasts/{bid}/stop")
            assert r.status_code == 200 and r.json()["state"] == "stopped", r.text
    finally:
        await teacher.leave()
    await asyncio.to_thread(rx.wait)
    codecs, duration = probe(rx.out)
    assert codecs == {"video": "h264", "audio": "aac"} and duration >= 1.0
