"""The open courseware page (课件同步) goes to TV: uploaded, opened and turned by the teacher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from clients.python.client import TongbuClient
from server.auth import Passwords
from server.broadcast.session import BroadcastOptions, run_live
from server.broadcast.status import BroadcastStatus
from server.broadcast.target import parse_target
from server.db import migrate
from server.db.engine import Database
from server.db.models import Lesson, LessonState
from server.seed import seed_demo
from server.tokens import RoomRole, TokenType, encode, issue_room_token

pytestmark = [pytest.mark.slow, pytest.mark.media]


async def _live_lesson(server: Any) -> tuple[int, int]:
    """Migrate and seed the live server's database; the first lesson is live."""
    settings = server.settings
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings), password_for=lambda s: s * 3)
            lesson = await session.get(Lesson, seed.lesson_ids[0])
            assert lesson is not None
            lesson.state, lesson.actual_start = LessonState.LIVE, datetime.now(UTC)
            return lesson.id, seed.accounts["teacher"].user_id
    finally:
        await db.close()


def _white_share(path: Path) -> float:
    """Share of received frames whose lower-left quarter is mostly white (a document page)."""
    hits = total = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            h, w = luma.shape
            total += 1
            hits += int(float(np.mean(luma[h // 2 :, : w // 2])) > 200)
    return hits / max(1, total)


async def test_open_courseware_page_is_composed_with_the_teacher_in_the_corner(
    live_server: Any, clip: Path, receivers: Any
) -> None:
    from tests.integration.courseware.conftest import pdf_bytes

    lesson_id, teacher_id = await _live_lesson(live_server)
    base = live_server.url.replace("ws://", "http://").removesuffix("/ws")
    access = encode(live_server.settings.ensure_secret(), TokenType.ACCESS,
                    {"sub": str(teacher_id)}, 600)
    async with httpx.AsyncClient(base_url=base,
                                 headers={"Authorization": f"Bearer {access}"}) as http:
        r = await http.post("/api/courseware", data={"lesson_id": str(lesson_id)},
                            files={"file": ("课件.pdf", pdf_bytes(2), "application/pdf")})
    assert r.status_code == 201, r.text
    doc_id = r.json()["id"]
    room = f"lesson-{lesson_id}"

    def token(identity: str, role: RoomRole) -> str:
        return issue_room_token(live_server.settings.ensure_secret(), room=room,
                                identity=identity, role=role, ttl=600, name=identity,
                                user_id=teacher_id if role is RoomRole.TEACHER else None)

    rx = receivers("udp", 4)
    teacher = TongbuClient(live_server.url, token(f"user-{teacher_id}", RoomRole.TEACHER))
    await teacher.join()
    try:
        await teacher.publish_file(clip, loop=True)
        await teacher.courseware_open(doc_id)
        await teacher.courseware_stroke([(0.1, 0.8), (0.4, 0.9)], color="#1d4ed8", width=4)
        target = parse_target(rx.url)
        status = BroadcastStatus(f"lesson:{lesson_id}", target.redacted)
        opts = BroadcastOptions(width=320, height=240, fps=15, bitrate_kbps=300, duration=10.0)

        async def turn_page() -> None:
            await asyncio.sleep(3.0)
            await teacher.courseware_page(2)

        turner = asyncio.create_task(turn_page())
        final = await run_live(live_server.url, token("broadcast", RoomRole.RECORDER), target,
                               opts, status)
        await turner
    finally:
        await teacher.leave()
    # Page 1 with its stroke, then page 2: at least two renders; the teacher's camera too.
    assert final.inputs.get("courseware", 0) >= 2, final
    assert final.inputs.get("main", 0) >= 5, final
    await asyncio.to_thread(rx.wait)
    assert _white_share(rx.out) > 0.5  # the white document page fills the picture
