"""auto_record end to end: a lesson started over REST is recorded by a supervised process.

A real uvicorn server (signaling, SFU, recorder supervisor) on a migrated and
seeded SQLite database; the teacher and a receiving classroom join through
`POST /api/lessons/{id}/join` and publish the flash/beep signal with aiortc;
the server spawns `python -m recorder`, which reports over REST with its own
RECORDER token. Faults: the recorder killed with SIGKILL mid-lesson, a camera
changing resolution, and object storage that is down.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from clients.python import PublishTrack, TongbuClient
from recorder.manifest import ManifestStore
from recorder.testsignal import live_tracks
from server.db.models import RecordingState
from tests.integration.recorder.conftest import LessonServer

pytestmark = [pytest.mark.media, pytest.mark.slow]


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


class Lesson:
    """Teacher + one receiving classroom with the floor, both publishing the test signal."""

    def __init__(self, server: LessonServer, lesson_id: int) -> None:
        self.server = server
        self.lesson_id = lesson_id
        self.teacher: TongbuClient | None = None
        self.school: TongbuClient | None = None
        self.teacher_video: Any = None
        self.school_frames = 0  # frames the receiving classroom got: the live lesson itself

    def _school_frame(self, frame: Any) -> None:
        self.school_frames += 1

    async def go_live(self) -> None:
        s = self.server
        r = await s.api("POST", f"/api/lessons/{self.lesson_id}/start", login="teacher")
        assert r.status_code == 200, r.text
        ws, token = await s.join(self.lesson_id, s.bearer("teacher")["Authorization"][7:])
        self.teacher = TongbuClient(ws, token, decode=False)
        device = await s.device_token(s.seed.receiving_classroom_ids[0])
        ws, token = await s.join(self.lesson_id, device)
        self.school = TongbuClient(ws, token, decode=False)
        self.school.on_frame(self._school_frame)
        await self.teacher.join()
        await self.school.join()
        # The recorder process has joined once it made its first report (manifest saved).
        await s.wait_recording(self.lesson_id, lambda r: bool(r.manifest), 30, "recorder join")
        t0 = float(int(time.time()) + 1)
        tv, ta = live_tracks(t0, 15)
        sv, sa_ = live_tracks(t0, 15)
        self.teacher_video = tv
        await self.teacher.publish([PublishTrack(tv, codec="video/VP8"), PublishTrack(ta)])  # type: ignore[arg-type]
        await self.school.publish([PublishTrack(sv, codec="video/VP8"), PublishTrack(sa_)])  # type: ignore[arg-type]
        await self.school.request_floor()
        await self.teacher.wait_until(lambda: bool(self.teacher.floor.queue), within=5)  # type: ignore[union-attr]
        await self.teacher.grant_floor(self.school.participant_id)  # type: ignore[arg-type]

    async def end(self) -> None:
        r = await self.server.api("POST", f"/api/lessons/{self.lesson_id}/end", login="teacher")
        assert r.status_code == 200, r.text
        for c in (self.school, self.teacher):
            if c is not None:
                await c.leave()


def _recorded(rec: Any) -> bool:
    """Both classrooms' video and the teacher's audio are being written.

    (The receiving classroom's audio is not required: in these runs the SFU
    forwarded it to the recorder only sometimes; see docs/recording.md.)
    """
    kinds = {(t["participant"], t["kind"]) for t in rec.tracks}
    videos = {p for p, k in kinds if k == "video"}
    return (len(videos) >= 2 and any(k == "audio" for _, k in kinds)
            and all(t["end_ms"] - t["start_ms"] > 500 for t in rec.tracks))


async def test_lesson_going_live_is_recorded_by_a_supervised_process(
    lesson_server: LessonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBU_RECORDER_REPORT_EVERY_S", "0.5")
    s = lesson_server
    lesson = Lesson(s, s.seed.lesson_ids[0])
    try:
        await lesson.go_live()
        rec = await s.recording(lesson.lesson_id)
        assert rec.state is RecordingState.RECORDING and rec.storage_key.startswith(
            f"lesson-{lesson.lesson_id}-")
        job = s.app.state.recorder_supervisor.jobs[lesson.lesson_id]
        assert job.process is not None and job.process.returncode is None
        # Progress arrives over REST while the lesson is live: four tracks growing.
        rec = await s.wait_recording(lesson.lesson_id, _recorded, 30, "progress reports")
        assert rec.state is RecordingState.RECORDING
        await asyncio.sleep(1.0)
        lesson.teacher_video.resize(160, 120)  # the camera changes resolution mid-lesson
        await asyncio.sleep(2.5)
        assert lesson.school_frames > 50
    finally:
        await lesson.end()
    rec = await s.wait_recording(lesson.lesson_id,
                                 lambda r: r.state in (RecordingState.READY,
                                                       RecordingState.FAILED), 60, "ready")
    assert rec.state is RecordingState.READY, rec.error
    job = s.app.state.recorder_supervisor.jobs.get(lesson.lesson_id)
    assert rec.ended_at is not None and rec.duration_ms >= 3000 and rec.size_bytes > 10_000
    job = s.app.state.recorder_supervisor.jobs.get(lesson.lesson_id)
    if job is not None:  # the recorder reported, then exits
        await asyncio.wait_for(job.stopped.wait(), 30)
    assert job is None or job.process.returncode == 0
    assert s.app.state.recorder_supervisor.jobs == {}
    assert s.settings.storage_dir is not None
    directory = s.settings.storage_dir / rec.storage_key
    manifest = ManifestStore(directory).load()
    assert manifest.state == "stopped"
    assert sorted((t.participant, t.kind) for t in manifest.tracks) == sorted(
        (t["participant"], t["kind"]) for t in rec.tracks)
    main_video = next(t for t in manifest.tracks
                      if t.kind == "video" and t.participant == manifest.main_participant)
    reasons = [seg.reason for seg in main_video.segments]
    assert "resolution_change" in reasons, reasons
    sizes = {(seg.width, seg.height) for seg in main_video.segments}
    assert {(320, 240), (160, 120)} <= sizes
    for seg in main_video.segments:  # every segment plays at its own size
        stream = ffprobe(directory / seg.file)["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == (
            "vp8", seg.width, seg.height)
    # The playback bundle and Range requests on the media.
    r = await s.api("GET", f"/api/recordings/{rec.id}/playback", login="admin")
    assert r.status_code == 200, r.text
    url = r.json()["tracks"][0]["segments"][0]["url"]
    media = await s.http.get(url, headers={"Range": "bytes=0-99"})
    assert media.status_code == 206 and len(media.content) == 100
    assert media.headers["content-range"].startswith("bytes 0-99/")


async def test_killed_recorder_is_restarted_into_a_new_segment(
    lesson_server: LessonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBU_RECORDER_REPORT_EVERY_S", "0.5")
    s = lesson_server
    lesson = Lesson(s, s.seed.lesson_ids[0])
    supervisor = s.app.state.recorder_supervisor
    try:
        await lesson.go_live()
        # Past a couple of clusters (1 s each), so the killed file holds media.
        await s.wait_recording(
            lesson.lesson_id,
            lambda r: _recorded(r) and all(t["end_ms"] - t["start_ms"] > 2500 for t in r.tracks),
            30, "first recorder")
        first = supervisor.jobs[lesson.lesson_id].process
        os.kill(first.pid, signal.SIGKILL)
        rec = await s.wait_recording(lesson.lesson_id, lambda r: r.restarts == 1, 15, "restart")
        for _ in range(100):
            second = supervisor.jobs[lesson.lesson_id].process
            if second is not first:
                break
            await asyncio.sleep(0.1)
        assert second.pid != first.pid and second.returncode is None
        # The new process resumes the same recording: tracks continue in segment 001.
        await s.wait_recording(
            lesson.lesson_id,
            lambda r: any(len(t.get("segments") or []) >= 2
                          for t in r.manifest.get("tracks", [])) if r.manifest else False,
            30, "segments after the restart")
        await asyncio.sleep(1.5)
    finally:
        await lesson.end()
    rec = await s.wait_recording(lesson.lesson_id,
                                 lambda r: r.state in (RecordingState.READY,
                                                       RecordingState.FAILED), 60, "ready")
    assert rec.state is RecordingState.READY, rec.error
    assert rec.restarts == 1
    assert s.settings.storage_dir is not None
    directory = s.settings.storage_dir / rec.storage_key
    manifest = ManifestStore(directory).load()
    for track in manifest.tracks:
        reasons = [seg.reason for seg in track.segments]
        assert reasons[0] == "start" and "restart" in reasons, (track.id, reasons)
        offsets = [seg.start_offset_ms for seg in track.segments]
        assert offsets == sorted(offsets)  # one consistent timeline across the two runs
        # The file cut by the kill is still playable up to the kill.
        probe = ffprobe(directory / track.segments[0].file)
        assert probe["streams"][0]["codec_name"] in ("vp8", "opus")
    events = [json.loads(line)["type"] for line in
              (directory / "events.jsonl").read_text().splitlines() if line.strip()]
    assert events.count("recorder_started") == 1 and "recorder_resumed" in events


def _s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> None:
    """The recorder process reads its storage from TONGBU_RECORDER_* (inherited env)."""
    for name, value in {"S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint,
                        "S3_ACCESS_KEY": "test", "S3_SECRET_KEY": "test",
                        "SEGMENT_MAX_S": "1.5", "REPORT_EVERY_S": "0.5"}.items():
        monkeypatch.setenv(f"TONGBU_RECORDER_{name}", value)


async def test_closed_segments_reach_object_storage_while_the_lesson_goes_on(
    lesson_server: LessonServer, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket="live-upload")
    _s3_env(monkeypatch, moto_endpoint, "live-upload")
    s = lesson_server
    lesson = Lesson(s, s.seed.lesson_ids[0])

    def objects() -> list[str]:
        listed = s3.list_objects_v2(Bucket="live-upload")
        return [o["Key"] for o in listed.get("Contents", [])]

    try:
        await lesson.go_live()
        rec = await s.recording(lesson.lesson_id)
        deadline = time.monotonic() + 30
        while not any("/tracks/" in k for k in objects()):
            assert time.monotonic() < deadline, "no segment uploaded during the lesson"
            await asyncio.sleep(0.3)
        during = objects()
        assert all(k.startswith(f"{rec.storage_key}/tracks/") for k in during), during
        assert f"{rec.storage_key}/manifest.json" not in during  # the manifest goes last
        lesson_live = await s.api("GET", f"/api/lessons/{lesson.lesson_id}")
        assert lesson_live.json()["state"] == "live"
    finally:
        await lesson.end()
    rec = await s.wait_recording(lesson.lesson_id,
                                 lambda r: r.state in (RecordingState.READY,
                                                       RecordingState.FAILED), 60, "ready")
    assert rec.state is RecordingState.READY, rec.error
    after = set(objects())
    assert f"{rec.storage_key}/manifest.json" in after
    files = {f"{rec.storage_key}/{seg['file']}" for t in rec.manifest["tracks"]
             for seg in t["segments"]}
    assert files <= after, files - after
    rollovers = [seg["reason"] for t in rec.manifest["tracks"] for seg in t["segments"]]
    assert "rollover" in rollovers


async def test_unreachable_storage_fails_the_upload_clearly_and_not_the_lesson(
    lesson_server: LessonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    _s3_env(monkeypatch, f"http://127.0.0.1:{closed}", "nowhere")
    s = lesson_server
    lesson = Lesson(s, s.seed.lesson_ids[0])
    try:
        await lesson.go_live()
        await s.wait_recording(lesson.lesson_id, _recorded, 30, "recording")
        before = lesson.school_frames
        await asyncio.sleep(3.0)  # segments close and fail to upload meanwhile
        assert lesson.school_frames - before > 20  # the live lesson goes on regardless
    finally:
        await lesson.end()
    rec = await s.wait_recording(lesson.lesson_id,
                                 lambda r: r.state in (RecordingState.READY,
                                                       RecordingState.FAILED), 90, "settled")
    assert rec.state is RecordingState.FAILED
    assert rec.error is not None and "storage_unavailable" in rec.error, rec.error
    assert rec.tracks and rec.size_bytes > 0  # what was recorded is known, and kept locally
    assert s.settings.storage_dir is not None
    directory = s.settings.storage_dir / rec.storage_key
    first = directory / rec.manifest["tracks"][0]["segments"][0]["file"]
    assert ffprobe(first)["streams"]
    events = (directory / "events.jsonl").read_text()
    assert '"upload_failed"' in events


async def test_server_restart_mid_lesson_resumes_the_recording(
    lesson_server: LessonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBU_RECORDER_REPORT_EVERY_S", "0.5")
    s = lesson_server
    lesson = Lesson(s, s.seed.lesson_ids[0])
    await lesson.go_live()
    first = await s.wait_recording(lesson.lesson_id, _recorded, 30, "recording")
    for c in (lesson.school, lesson.teacher):
        assert c is not None
        await c.leave()
    await s.restart()  # the recorder is stopped with the server; the lesson stays live
    rec = await s.recording(lesson.lesson_id)
    assert rec.id == first.id and rec.state is RecordingState.RECORDING
    job = s.app.state.recorder_supervisor.jobs.get(lesson.lesson_id)
    assert job is not None and job.key == first.storage_key  # resumed at startup
    # The classrooms come back and publish again: new producers, same recording.
    again = Lesson(s, lesson.lesson_id)
    ws, token = await s.join(lesson.lesson_id, s.bearer("teacher")["Authorization"][7:])
    again.teacher = TongbuClient(ws, token, decode=False)
    await again.teacher.join()
    v, a = live_tracks(float(int(time.time())), 15)
    await again.teacher.publish([PublishTrack(v, codec="video/VP8"), PublishTrack(a)])  # type: ignore[arg-type]
    await s.wait_recording(lesson.lesson_id,
                           lambda r: len(r.tracks) > len(first.tracks)
                           and all(t["end_ms"] - t["start_ms"] > 500 for t in r.tracks),
                           30, "tracks after the restart")
    await again.end()
    rec = await s.wait_recording(lesson.lesson_id,
                                 lambda r: r.state in (RecordingState.READY,
                                                       RecordingState.FAILED), 60, "ready")
    assert rec.state is RecordingState.READY, rec.error
    assert s.settings.storage_dir is not None
    events = [json.loads(line)["type"] for line in
              (s.settings.storage_dir / rec.storage_key / "events.jsonl").read_text().splitlines()
              if line.strip()]
    assert "recorder_resumed" in events
    starts = sorted(t["start_ms"] for t in rec.tracks)
    assert starts[-1] > starts[0] + 1000  # the new tracks sit later on the same timeline


async def test_a_recorder_that_keeps_dying_fails_the_recording_not_the_lesson(
    lesson_server: LessonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBU_RECORDER_CLUSTER_MS", "not-a-number")  # every start exits 1
    s = lesson_server
    s.settings.recording.max_restarts = 2
    lesson_id = s.seed.lesson_ids[0]
    r = await s.api("POST", f"/api/lessons/{lesson_id}/start", login="teacher")
    assert r.status_code == 200 and r.json()["state"] == "live"
    rec = await s.wait_recording(lesson_id, lambda r: r.state is RecordingState.FAILED, 60,
                                 "failed")
    assert rec.restarts == 2
    assert rec.error is not None and "died 3 times" in rec.error and "exit code 1" in rec.error
    r = await s.api("GET", f"/api/lessons/{lesson_id}")
    assert r.json()["state"] == "live"  # the lesson goes on
    assert lesson_id not in s.app.state.recorder_supervisor.jobs
    r = await s.api("POST", f"/api/lessons/{lesson_id}/end", login="teacher")
    assert r.status_code == 200
