"""Record a real lesson: uvicorn + signaling + the aiortc SFU + the recorder as a hidden peer.

Two classrooms (the teacher and one receiving classroom given the floor)
publish the flash/beep signal from aiortc tracks paced on the same wall-clock
grid, so both flash and beep at every whole second of lesson time. The
recorder joins with a RECORDER token over /ws, is auto-subscribed to every
producer, and writes the encoded frames it receives (no decoding) mapped
through the SFU's RTCP sender reports. The sync checker then measures the
files against the issue's targets.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from clients.python import PublishTrack, TongbuClient
from recorder.manifest import ManifestStore
from recorder.recording import Recording
from recorder.session import RecorderSession
from recorder.syncchk import check_recording
from recorder.testsignal import live_tracks
from server.tokens import RoomRole
from tests.integration.signaling.conftest import LiveServer, live_server  # noqa: F401

pytestmark = [pytest.mark.media, pytest.mark.slow]

RECORD_S = 5.5


# 15 fps used to be +41 ms (the SFU released a video frame only when the next one
# began); media/framing.py now releases it on the RTP marker bit: see docs/recording.md.
FPS_CASES = [30, 15]


# Real-time media on a shared 2-core machine: a CPU hiccup during the few seconds recorded
# moves a flash or a beep by a frame. Each attempt must still meet the targets in full.
@pytest.mark.realtime
@pytest.mark.flaky(reruns=2, reruns_delay=2)
@pytest.mark.parametrize("fps", FPS_CASES)
async def test_live_lesson_recording_meets_sync_targets(live_server: LiveServer,  # noqa: F811
                                                        tmp_path: Path, fps: int) -> None:
    lesson_start = time.time()
    t0 = float(int(lesson_start) + 1)  # the signal's grid: whole seconds
    teacher = TongbuClient(live_server.url, live_server.token("teacher", RoomRole.TEACHER),
                           decode=False)
    school = TongbuClient(live_server.url, live_server.token("school-1"), decode=False)
    rec_dir = tmp_path / "live-rec"
    recording = Recording(rec_dir, recording_id="live-rec", room="lesson-1",
                          lesson_start_unix=lesson_start)
    session = RecorderSession(live_server.url, live_server.token("recorder", RoomRole.RECORDER),
                              recording)
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        await teacher.join()
        await school.join()
        task = asyncio.create_task(session.run(stop))
        tv, ta = live_tracks(t0, fps)
        sv, sa = live_tracks(t0, fps)
        await teacher.publish([PublishTrack(tv, codec="video/VP8"), PublishTrack(ta)])  # type: ignore[arg-type]
        await school.publish([PublishTrack(sv, codec="video/VP8"), PublishTrack(sa)])  # type: ignore[arg-type]
        await school.request_floor()
        await teacher.wait_until(lambda: bool(teacher.floor.queue), within=5)
        await teacher.grant_floor(school.participant_id)  # type: ignore[arg-type]
        await asyncio.sleep(RECORD_S)
        assert session.frames, "the recorder received no frames"
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 20)
        for c in (school, teacher):
            await c.leave()
    manifest = ManifestStore(rec_dir).load()
    assert manifest.state == "stopped"
    kinds = sorted((t.participant, t.kind) for t in manifest.tracks)
    assert kinds == [("school-1", "audio"), ("school-1", "video"),
                     ("teacher", "audio"), ("teacher", "video")]
    assert manifest.main_participant == "teacher"
    sources = {t.id: t.segments[0].clock.source for t in manifest.tracks if t.segments}
    assert all(src == "rtcp_sr" for src in sources.values()), sources
    report = check_recording(rec_dir, min_events=2)
    (tmp_path / "sync.json").write_text(json.dumps(report.summary()))
    print("live sync:", json.dumps(report.summary()))
    assert report.ok, report.summary()
    events = [e.type for e in recording.events.read()]
    assert "floor_changed" in events and "recorder_joined" in events


async def test_record_command_records_a_live_lesson(live_server: LiveServer,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`tongbu record` / `python -m recorder` end to end (run in a thread: it owns its loop)."""
    from typer.testing import CliRunner

    from recorder.cli import record_app

    monkeypatch.setenv("TONGBU_DATA_DIR", str(live_server.settings.data_dir))
    teacher = TongbuClient(live_server.url, live_server.token("teacher", RoomRole.TEACHER),
                           decode=False)
    try:
        await teacher.join()
        v, a = live_tracks(float(int(time.time())), 15)
        await teacher.publish([PublishTrack(v, codec="video/VP8"), PublishTrack(a)])  # type: ignore[arg-type]
        token = live_server.token("recorder", RoomRole.RECORDER)
        result = await asyncio.to_thread(
            CliRunner().invoke, record_app,
            ["--room", "lesson-1", "--url", live_server.url, "--token", token,
             "--recording-id", "cli-rec", "--duration", "2.5"])
    finally:
        await teacher.leave()
    assert result.exit_code == 0, result.output
    assert '"state": "stopped"' in result.output
    assert live_server.settings.storage_dir is not None
    manifest = ManifestStore(live_server.settings.storage_dir / "cli-rec").load()
    frames = {t.kind: sum(s.frames for s in t.segments) for t in manifest.tracks}
    assert frames.get("video", 0) >= 15 and frames.get("audio", 0) >= 50, frames
