"""Broadcasts over REST: start a library playout, watch its progress, stop it; bad input."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.db.models import Recording, RecordingState
from tests.integration.api.conftest import World

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


@pytest.fixture(autouse=True)
async def _stop_children(world: World) -> AsyncIterator[None]:
    """A failed assertion must not leave a looping broadcast process behind."""
    yield
    manager = getattr(world.app.state, "broadcasts", None)
    if manager is not None:
        await manager.close()
        manager.jobs.clear()


async def _entry(world: World, mp4: Path) -> int:
    assert world.settings.storage_dir is not None
    export = world.settings.storage_dir / "rec-tv" / "export"
    export.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mp4, export / "rec-tv.mp4")
    async with world.db.session() as session:
        rec = Recording(lesson_id=world.seed.lesson_ids[0], storage_key="rec-tv",
                        state=RecordingState.READY)
        session.add(rec)
        await session.flush()
        rid = rec.id
    r = await world.request("teacher", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "school"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _wait(world: World, bid: int, ok: object, within: float = 30.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    body: dict = {}
    while loop.time() < deadline:
        body = (await world.request("county_admin", "GET", f"/api/broadcasts/{bid}")).json()
        if ok(body):  # type: ignore[operator]
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"broadcast never reached the expected state: {body}")


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_library_playout_starts_reports_progress_and_stops(
    world: World, playout_mp4: Path
) -> None:
    entry = await _entry(world, playout_mp4)
    r = await world.request("county_admin", "POST", "/api/broadcasts", json={
        "library_entry_id": entry, "to": f"udp://127.0.0.1:{_udp_port()}", "loop": True})
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    body = await _wait(world, bid, lambda b: b["state"] == "running" and b["frames"] > 15)
    assert body["bitrate_kbps"] > 0 and body["source"] == f"library:{entry}"
    metrics = (await world.client.get("/metrics")).text
    assert "tongbu_broadcasts_running 1.0" in metrics
    assert f'tongbu_broadcast_frames_total{{broadcast="{bid}",source="library:{entry}"}}' in metrics
    # Outside the admin's scope: not visible, not stoppable.
    assert (await world.request("other_county_admin", "GET",
                                f"/api/broadcasts/{bid}")).status_code == 403
    listed = (await world.request("other_county_admin", "GET", "/api/broadcasts")).json()
    assert listed == []
    r = await world.request("county_admin", "POST", f"/api/broadcasts/{bid}/stop")
    assert r.status_code == 200 and r.json()["state"] == "stopped"


async def test_unreachable_target_fails_with_the_error_after_retries(
    world: World, playout_mp4: Path
) -> None:
    entry = await _entry(world, playout_mp4)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await world.request("county_admin", "POST", "/api/broadcasts", json={
        "library_entry_id": entry, "to": f"rtmp://127.0.0.1:{port}/live/streamkey",
        "max_retries": 2, "retry_delay": 0.05})
    assert r.status_code == 201 and "streamkey" not in r.json()["target"]
    body = await _wait(world, r.json()["id"], lambda b: b["state"] == "failed")
    assert body["reconnects"] == 2 and "refused" in (body["last_error"] or "").lower()
    assert "streamkey" not in body["last_error"]


async def test_bad_broadcast_requests_are_refused(world: World, playout_mp4: Path) -> None:
    entry = await _entry(world, playout_mp4)
    cases = [
        ("county_admin", {"library_entry_id": entry, "to": "http://example.com/x"}, 422),
        ("county_admin", {"library_entry_id": entry, "to": "udp://127.0.0.1"}, 422),
        ("county_admin", {"to": "udp://127.0.0.1:5000"}, 422),
        ("county_admin", {"lesson_id": 1, "library_entry_id": entry,
                          "to": "udp://127.0.0.1:5000"}, 422),
        ("county_admin", {"library_entry_id": 99999, "to": "udp://127.0.0.1:5000"}, 404),
        ("teacher", {"library_entry_id": entry, "to": "udp://127.0.0.1:5000"}, 403),
        ("other_county_admin", {"library_entry_id": entry, "to": "udp://127.0.0.1:5000"}, 403),
        ("other_teacher", {"lesson_id": world.seed.lesson_ids[0],
                           "to": "udp://127.0.0.1:5000"}, 403),
        ("anonymous", {"library_entry_id": entry, "to": "udp://127.0.0.1:5000"}, 401),
    ]
    for who, body, code in cases:
        r = await world.request(who, "POST", "/api/broadcasts", json=body)
        assert r.status_code == code, (who, body, r.text)
        assert r.json()["error"]["code"]
    assert (await world.request("county_admin", "GET",
                                "/api/broadcasts/424242")).status_code == 404
