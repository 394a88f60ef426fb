"""Broadcast output against real receivers: codecs, duration and moving pictures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clients.python.client import TongbuClient
from server.broadcast.session import Broadcast, BroadcastOptions, run_live, run_playout
from server.broadcast.status import BroadcastStatus
from server.broadcast.target import parse_target
from server.errors import ValidationFailed
from server.tokens import RoomRole

from .checks import moving_frames, probe

pytestmark = [pytest.mark.slow]
SMALL = {"width": 320, "height": 240, "fps": 15, "bitrate_kbps": 300}


async def test_library_recording_plays_out_to_an_rtmp_server(
    receivers: Any, playout_mp4: Path
) -> None:
    rx = receivers("rtmp", 10)
    target = parse_target(rx.url)
    seen: list[str] = []
    status = await run_playout(playout_mp4, target, BroadcastOptions(**SMALL),
                               BroadcastStatus("file", target.redacted),
                               on_status=lambda s: seen.append(s.state))
    assert status.state == "finished" and status.reconnects == 0
    assert status.frames >= 55 and status.bitrate_kbps > 0  # 4 s at 15 fps
    assert "running" in seen and "secret-key" not in status.target
    await asyncio.to_thread(rx.wait)
    codecs, duration = probe(rx.out)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert 3.5 <= duration <= 4.6
    frames, change = moving_frames(rx.out)
    assert frames >= 55 and change > 0.5


async def test_recording_plays_out_over_srt(receivers: Any, playout_mp4: Path) -> None:
    rx = receivers("srt", 10)
    target = parse_target(rx.url)
    status = await run_playout(playout_mp4, target, BroadcastOptions(**SMALL),
                               BroadcastStatus("file", target.redacted))
    assert status.state == "finished" and status.frames >= 55, status
    await asyncio.to_thread(rx.wait)
    codecs, duration = probe(rx.out)
    assert codecs == {"video": "h264", "audio": "aac"} and duration >= 3.0


@pytest.mark.media
async def test_live_lesson_is_composed_and_sent_as_mpegts_over_udp(
    live_server: Any, clip: Path, receivers: Any
) -> None:
    rx = receivers("udp", 3)
    teacher = TongbuClient(live_server.url, live_server.token("teacher", RoomRole.TEACHER))
    await teacher.join()
    try:
        await teacher.publish_file(clip, loop=True)
        target = parse_target(rx.url)
        opts = BroadcastOptions(**SMALL, duration=5.0)
        status = BroadcastStatus("lesson:1", target.redacted)
        token = live_server.token("broadcast", RoomRole.RECORDER)
        final = await run_live(live_server.url, token, target, opts, status)
    finally:
        await teacher.leave()
    # Loose bounds: the machine is shared; the point is that decoded lesson media went out.
    assert final.state == "stopped" and final.reconnects == 0, final
    assert final.inputs.get("main", 0) >= 5 and final.inputs.get("audio", 0) >= 5, final
    assert final.frames >= 15, final
    await asyncio.to_thread(rx.wait)
    codecs, duration = probe(rx.out)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert 1.0 <= duration <= 3.6
    frames, change = moving_frames(rx.out)
    assert frames >= 10 and change > 0.3  # the teacher's moving picture, not the slate


async def test_unreachable_rtmp_server_retries_with_backoff_then_fails_clearly(
    playout_mp4: Path,
) -> None:
    from tests.integration.broadcast.conftest import free_port

    target = parse_target(f"rtmp://127.0.0.1:{free_port()}/live/secret-key")
    opts = BroadcastOptions(**SMALL, max_retries=3, retry_base=0.1, retry_max=0.4)
    states: list[tuple[str, int]] = []
    status = await run_playout(playout_mp4, target, opts, BroadcastStatus("f", target.redacted),
                               on_status=lambda s: states.append((s.state, s.reconnects)))
    assert status.state == "failed" and status.reconnects == 3
    assert status.last_error is not None and "refused" in status.last_error.lower()
    assert "gave up after 3 retries" in status.last_error
    assert "secret-key" not in status.last_error
    assert ("reconnecting", 1) in states and ("reconnecting", 3) in states


async def test_stop_ends_a_looping_playout_cleanly(playout_mp4: Path) -> None:
    from tests.integration.broadcast.conftest import free_port

    # UDP needs no listener: what the receiver gets is covered by the tests above.
    target = parse_target(f"udp://127.0.0.1:{free_port()}")
    running = asyncio.Event()
    b = Broadcast(target, BroadcastOptions(**SMALL, loop=True, status_interval=0.2),
                  BroadcastStatus("file", target.redacted),
                  on_status=lambda s: s.out_time_s >= 1.5 and running.set())
    task = asyncio.create_task(run_playout(playout_mp4, target, b.opts, b.status, broadcast=b))
    await asyncio.wait_for(running.wait(), 15)
    assert b.status.state == "running"
    b.stop()
    final = await asyncio.wait_for(task, 10)  # a guard against a hang, not a speed check
    assert final.state == "stopped"
    assert final.frames >= 20 and final.reconnects == 0


@pytest.mark.parametrize("url", [
    "http://example.com/live", "rtmp://", "udp://127.0.0.1", "srt://host", "rtmp://host/",
    "udp://h:99999", "file:///etc/passwd", "rtmp://host/live/a b",
])
def test_bad_target_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_target(url)


async def test_unreachable_signaling_server_fails_clearly() -> None:
    from tests.integration.broadcast.conftest import free_port

    target = parse_target(f"udp://127.0.0.1:{free_port()}")
    status = await run_live(f"ws://127.0.0.1:{free_port()}/ws", "token", target,
                            BroadcastOptions(**SMALL), BroadcastStatus("lesson:9", target.redacted))
    assert status.state == "failed" and "cannot join the lesson" in (status.last_error or "")


def test_cli_takes_lesson_id_then_options_and_reports_json(playout_mp4: Path) -> None:
    import json

    from typer.testing import CliRunner

    from server.cli import app
    from tests.integration.broadcast.conftest import free_port

    runner = CliRunner()
    bad = runner.invoke(app, ["broadcast", "12", "--to", "http://example.com/live"])
    assert bad.exit_code == 2 and "rtmp://" in bad.output
    neither = runner.invoke(app, ["broadcast", "--to", "udp://127.0.0.1:5000"])
    assert neither.exit_code == 2
    ok = runner.invoke(app, ["broadcast", "--file", str(playout_mp4), "--to",
                             f"udp://127.0.0.1:{free_port()}", "--json"])
    assert ok.exit_code == 0, ok.output
    states = [json.loads(line)["state"] for line in ok.stdout.splitlines() if line.startswith("{")]
    assert states[-1] == "finished" and "running" in states
