"""/metrics: participants by role and visibility, media bitrate, DB-sampled states, and no
metric family exported twice next to the media and server collectors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from clients.python import TongbuClient
from server.stats.metrics import take_sample
from server.tokens import RoomRole
from tests.integration.api.conftest import World
from tests.integration.signaling.conftest import LiveServer, clip, live_server  # noqa: F401


def value(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and ",".join(sorted((m.group(1) or "").split(","))) == want:
            return float(m.group(2))
    return None


@pytest.mark.media
async def test_participants_and_bitrate_of_a_live_room(
    live_server: LiveServer,  # noqa: F811
    clip: Path,  # noqa: F811
) -> None:
    def client(identity: str, role: RoomRole) -> TongbuClient:
        return TongbuClient(live_server.url, live_server.token(identity, role), decode=False)

    teacher, school, expert = (
        client("teacher", RoomRole.TEACHER),
        client("school-a", RoomRole.CLASSROOM),
        client("expert", RoomRole.EVALUATOR),
    )
    base = live_server.url.replace("ws://", "http://").removesuffix("/ws")
    try:
        await teacher.join()
        await school.join()
        await expert.join()
        producers = await teacher.publish_file(clip)
        await school.wait_for_frames(5, producer_ids=[p.id for p in producers], within=15)
        async with httpx.AsyncClient(base_url=base) as http:
            await http.get("/metrics")
            await asyncio.sleep(1.0)
            text = (await http.get("/metrics")).text
        assert value(text, "tongbu_participants", role="teacher", hidden="false") == 1
        assert value(text, "tongbu_participants", role="classroom", hidden="false") == 1
        assert value(text, "tongbu_participants", role="evaluator", hidden="true") == 1
        assert value(text, "tongbu_signaling_rooms") == 1
        bitrate_in = value(text, "tongbu_media_bitrate_bps", direction="in")
        bitrate_out = value(text, "tongbu_media_bitrate_bps", direction="out")
        assert bitrate_in is not None and bitrate_in > 10_000
        assert bitrate_out is not None and bitrate_out > 10_000
        helps = re.findall(r"^# HELP (\S+)", text, flags=re.M)
        assert len(helps) == len(set(helps)), "a metric family is exported twice"
        for name in ("tongbu_media_consumers", "tongbu_db_pool_connections", "tongbu_lessons"):
            assert name in helps
    finally:
        for c in (expert, school, teacher):
            await c.close()


async def test_sampled_lessons_and_webhook_queue(world: World) -> None:
    s = world.seed
    r = await world.request(
        "county_admin",
        "POST",
        "/api/webhooks",
        json={"org_unit_id": s.county_id, "url": "http://127.0.0.1:9/x"},
    )
    assert r.status_code == 201
    assert (
        await world.request("teacher", "POST", f"/api/lessons/{s.lesson_ids[0]}/start")
    ).is_success
    sample = await take_sample(world.db)
    assert sample["lessons"] == {"live": 1.0}
    assert sample["webhooks"] == {"pending": 1.0, "failed": 0.0}
    assert sample["recordings"]["ready"] == 0.0
    world.app.state.supervision_metrics.sample = sample
    text = (await world.client.get("/metrics")).text
    assert value(text, "tongbu_lessons", state="live") == 1
    assert value(text, "tongbu_webhook_deliveries_queued", state="pending") == 1
