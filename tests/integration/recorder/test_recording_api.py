"""The recording REST API on SQLite and PostgreSQL: reports, scope, delete + audit, policy, prune.

Rows are made the way the server makes them (`create_for_lesson` when a lesson
goes live); the recorder's side is played by requests carrying a RECORDER room
token, as the recorder process sends them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.api.recording_retention import plan_prune, prune
from server.api.recording_state import create_for_lesson
from server.db.models import AuditLog, Lesson, LessonState, Recording, RecordingState, utcnow
from server.tokens import RoomRole, issue_room_token
from tests.integration.api.conftest import SECRET, World


def manifest(key: str, seconds: float = 4.0, size: int = 5000) -> dict[str, Any]:
    seg = {"index": 0, "file": "tracks/v1.000.webm", "first_rtp": 0, "start_offset_ms": 250.0,
           "duration_ms": seconds * 1000, "frames": 60, "bytes": size, "closed": True,
           "clock": {"source": "rtcp_sr", "clock_rate": 90000, "rtp": 0, "lesson_ms": 250.0}}
    return {"version": 1, "recording_id": key, "room": "x",
            "lesson_start_utc": utcnow().isoformat(), "state": "stopped",
            "main_participant": "user-4",
            "tracks": [{"id": "v1", "participant": "user-4", "classroom": "user-4",
                        "kind": "video", "codec": "video/VP8", "segments": [seg]}]}


async def make_recording(world: World, lesson_index: int = 0, *, state: RecordingState =
                         RecordingState.READY, size: int = 5000, files: bool = True,
                         days_old: int = 0) -> Recording:
    async with world.db.session() as session:
        lesson = await session.get(Lesson, world.seed.lesson_ids[lesson_index])
        assert lesson is not None
        lesson.state, lesson.actual_start = LessonState.ENDED, utcnow() - timedelta(days=days_old)
        rec = await create_for_lesson(session, lesson)
        rec.state, rec.size_bytes, rec.duration_ms = state, size, 4250
        rec.manifest = manifest(rec.storage_key, size=size)
        rec.tracks = [{"id": "v1", "participant": "user-4", "kind": "video"}]
        rec.ended_at = utcnow() - timedelta(days=days_old)
        await session.flush()
        session.expunge(rec)
    if files:
        assert world.settings.storage_dir is not None
        d = world.settings.storage_dir / rec.storage_key / "tracks"
        d.mkdir(parents=True, exist_ok=True)
        (d / "v1.000.webm").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(size - 4))
    return rec


def recorder_headers(lesson_id: int, role: RoomRole = RoomRole.RECORDER) -> dict[str, str]:
    token = issue_room_token(SECRET, room=f"lesson-{lesson_id}", identity="recorder", role=role,
                             ttl=600)
    return {"Authorization": f"Bearer {token}"}


async def test_recorder_reports_move_the_row_to_ready_with_its_numbers(world: World) -> None:
    rec = await make_recording(world, state=RecordingState.RECORDING, files=False)
    url, headers = f"/api/recordings/{rec.id}/report", recorder_headers(rec.lesson_id)
    body = {"state": "processing", "manifest": manifest(rec.storage_key, 6.0, 7000)}
    r = await world.client.post(url, json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "processing" and r.json()["duration_ms"] == 6250
    r = await world.client.post(url, json={"state": "ready", "size_bytes": 9000,
                                           "manifest": manifest(rec.storage_key, 6.0, 7000)},
                                headers=headers)
    out = r.json()
    assert (out["state"], out["size_bytes"], out["tracks"][0]["kind"]) == ("ready", 9000, "video")
    assert out["ended_at"] is not None and out["error"] is None
    r = await world.client.post(url, json={"state": "recording"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"


async def test_reports_need_the_recorder_token_of_that_lesson(world: World) -> None:
    rec = await make_recording(world, state=RecordingState.RECORDING, files=False)
    url = f"/api/recordings/{rec.id}/report"
    cases = [
        ({}, 401, "unauthenticated"),
        (recorder_headers(rec.lesson_id, RoomRole.CLASSROOM), 403, "permission_denied"),
        (recorder_headers(rec.lesson_id + 1), 403, "permission_denied"),
        (world.headers("admin"), 401, "unauthenticated"),  # an access token is not a room token
    ]
    for headers, status, code in cases:
        r = await world.client.post(url, json={"state": "processing"}, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), headers
    r = await world.client.post(url, json={"state": "ready", "manifest": manifest("other")},
                                headers=recorder_headers(rec.lesson_id))
    assert r.status_code == 422
    r = await world.client.post(url, json={"state": "bogus"},
                                headers=recorder_headers(rec.lesson_id))
    assert r.status_code == 422
    r = await world.client.post("/api/recordings/999999/report", json={"state": "ready"},
                                headers=recorder_headers(rec.lesson_id))
    assert r.status_code == 404


async def test_lists_and_details_follow_scope(world: World) -> None:
    rec = await make_recording(world, files=False)
    for who, sees in (("admin", True), ("county_admin", True), ("teacher", True),
                      ("evaluator", True), ("other_county_admin", False),
                      ("other_teacher", False)):
        r = await world.request(who, "GET", "/api/recordings")
        ids = [i["id"] for i in r.json()["items"]]
        assert (rec.id in ids) is sees, who
        r = await world.request(who, "GET", f"/api/recordings/{rec.id}")
        assert r.status_code == (200 if sees else 403), who
    r = await world.request("admin", "GET", "/api/recordings/999999")
    assert r.status_code == 404


async def test_delete_removes_files_and_is_audited_and_scope_checked(world: World) -> None:
    rec = await make_recording(world)
    assert world.settings.storage_dir is not None
    directory = world.settings.storage_dir / rec.storage_key
    assert directory.is_dir()
    for who, status in (("other_county_admin", 403), ("evaluator", 403), ("teacher", 403)):
        r = await world.request(who, "DELETE", f"/api/recordings/{rec.id}")
        assert r.status_code == status, who
    assert directory.is_dir()
    r = await world.request("county_admin", "DELETE", f"/api/recordings/{rec.id}")
    assert r.status_code == 204
    assert not directory.exists()
    async with world.db.session() as session:
        assert await session.get(Recording, rec.id) is None
        entry = await session.scalar(sa.select(AuditLog).where(
            AuditLog.action == "recording.deleted", AuditLog.target == f"recording:{rec.id}"))
        assert entry is not None and entry.actor.startswith("user-")
        assert entry.details["storage_key"] == rec.storage_key and entry.details["files"] == 1
    r = await world.request("county_admin", "DELETE", f"/api/recordings/{rec.id}")
    assert r.status_code == 404


async def test_a_recording_being_made_cannot_be_deleted(world: World) -> None:
    rec = await make_recording(world, state=RecordingState.RECORDING)
    r = await world.request("admin", "DELETE", f"/api/recordings/{rec.id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"


async def test_policy_is_inherited_down_the_tree_and_admin_only(world: World) -> None:
    s = world.seed
    r = await world.request("county_admin", "PUT", f"/api/org-units/{s.county_id}/recording-policy",
                            json={"retention_days": 30, "quota_bytes": 10_000_000})
    assert r.status_code == 200, r.text
    r = await world.request("county_admin", "GET",
                            f"/api/org-units/{s.main_school_id}/recording-policy")
    body = r.json()
    assert body["retention_days"] is None and body["effective_retention_days"] == 30
    assert body["retention_from"] == s.county_id
    assert body["quotas_on_path"] == {str(s.county_id): 10_000_000}
    r = await world.request("county_admin", "PUT",
                            f"/api/org-units/{s.main_school_id}/recording-policy",
                            json={"retention_days": 7})
    assert r.json()["effective_retention_days"] == 7  # overridden below
    for who in ("other_county_admin", "teacher", "evaluator"):
        r = await world.request(who, "PUT", f"/api/org-units/{s.county_id}/recording-policy",
                                json={"retention_days": 1})
        assert r.status_code == 403, who
    for bad in ({"retention_days": 0}, {"quota_bytes": -1}, {"retention_days": "x"},
                {"unknown": 1}):
        r = await world.request("admin", "PUT", f"/api/org-units/{s.county_id}/recording-policy",
                                json=bad)
        assert r.status_code == 422, bad
    r = await world.request("admin", "GET", "/api/org-units/999999/recording-policy")
    assert r.status_code == 404


async def test_finishing_over_quota_flags_the_recording_and_keeps_it(world: World) -> None:
    s = world.seed
    await world.request("admin", "PUT", f"/api/org-units/{s.main_school_id}/recording-policy",
                        json={"quota_bytes": 6000})
    await make_recording(world, 1, size=5000, files=False)
    rec = await make_recording(world, 0, state=RecordingState.PROCESSING, files=False)
    r = await world.client.post(f"/api/recordings/{rec.id}/report",
                                json={"state": "ready", "size_bytes": 5000},
                                headers=recorder_headers(rec.lesson_id))
    out = r.json()
    assert out["state"] == "ready" and out["over_quota"] is True
    assert "quota" in out["error"] and str(s.main_school_id) in out["error"]


async def test_prune_deletes_expired_then_oldest_over_quota(world: World) -> None:
    s = world.seed
    await world.request("admin", "PUT", f"/api/org-units/{s.county_id}/recording-policy",
                        json={"retention_days": 30})
    await world.request("admin", "PUT", f"/api/org-units/{s.main_school_id}/recording-policy",
                        json={"quota_bytes": 9000})
    old = await make_recording(world, 0, days_old=40, size=5000)
    older = await make_recording(world, 1, days_old=10, size=5000)
    newer = await make_recording(world, 2, days_old=1, size=5000)
    async with world.db.session() as session:
        plan = await plan_prune(session, world.settings)
        assert [r.id for r in plan.expired] == [old.id]
        assert [r.id for r in plan.over_quota] == [older.id]  # 10000 > 9000: oldest goes
        await prune(session, world.settings)
    async with world.db.session() as session:
        left = (await session.scalars(sa.select(Recording.id))).all()
        assert left == [newer.id]
        audit = (await session.scalars(sa.select(AuditLog).where(
            AuditLog.action == "recording.deleted"))).all()
        assert sorted(a.details["reason"] for a in audit) == ["quota", "retention"]
    assert world.settings.storage_dir is not None
    assert not (world.settings.storage_dir / old.storage_key).exists()


async def test_comments_land_on_the_timeline_for_those_in_scope(world: World) -> None:
    rec = await make_recording(world)
    url = f"/api/recordings/{rec.id}/comments"
    r = await world.request("evaluator", "POST", url, json={"offset_ms": 1500, "text": "互动好"})
    assert r.status_code == 201, r.text
    r = await world.request("teacher", "POST", url, json={"offset_ms": 3000, "text": "板书"})
    assert r.status_code == 201
    for bad in ({"offset_ms": -1, "text": "x"}, {"offset_ms": 1, "text": ""},
                {"offset_ms": 1}, {"offset_ms": 1, "text": "x", "classroom_id": 999999},
                {"offset_ms": 10_000_000, "text": "x"}):
        r = await world.request("evaluator", "POST", url, json=bad)
        assert r.status_code == 422, bad
    r = await world.request(f"device:{world.seed.main_classroom_id}", "POST", url,
                            json={"offset_ms": 1, "text": "x"})
    assert r.status_code == 403
    r = await world.request("other_county_admin", "POST", url, json={"offset_ms": 1, "text": "x"})
    assert r.status_code == 403
    r = await world.request("admin", "GET", f"/api/recordings/{rec.id}/timeline")
    comments = [(i["offset_ms"], i["text"]) for i in r.json() if i["kind"] == "comment"]
    assert comments == [(1500, "互动好"), (3000, "板书")]


async def test_media_needs_a_token_for_that_recording_and_a_manifest_file(world: World) -> None:
    rec = await make_recording(world)
    other = await make_recording(world, 1)
    r = await world.request("teacher", "GET", f"/api/recordings/{rec.id}/playback")
    assert r.status_code == 200, r.text
    url = r.json()["tracks"][0]["segments"][0]["url"]
    path, token = url.split("?t=")
    r = await world.client.get(url, headers={"Range": "bytes=4-9"})
    assert r.status_code == 206 and r.content == bytes(6)
    assert r.headers["content-type"].startswith("video/webm")
    r = await world.client.get(path.replace(f"/{rec.id}/", f"/{other.id}/") + f"?t={token}")
    assert r.status_code == 403
    r = await world.client.get(path.replace("v1.000.webm", "v1.001.webm") + f"?t={token}")
    assert r.status_code == 404
    r = await world.client.get(path.replace("tracks/v1.000.webm", "..%2F..%2F..%2Fsecret.key")
                               + f"?t={token}")
    assert r.status_code == 404
    r = await world.client.get(path + "?t=" + "x" * 40)
    assert r.status_code == 401
    r = await world.client.get(path)
    assert r.status_code == 422



async def test_prune_command_lists_then_deletes(world: World,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from recorder.cli import recording_app

    await world.request("admin", "PUT", f"/api/org-units/{world.seed.county_id}/recording-policy",
                        json={"retention_days": 30})
    old = await make_recording(world, 0, days_old=40)
    keep = await make_recording(world, 1, days_old=2)
    monkeypatch.setenv("TONGBU_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("TONGBU_DATABASE_URL", world.settings.db_url)
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, recording_app, ["prune", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would delete {old.id}\t{old.storage_key}\tretention" in result.output
    assert "1 expired, 0 over quota" in result.output
    result = await asyncio.to_thread(runner.invoke, recording_app, ["prune", "--no-progress"])
    assert result.exit_code == 0, result.output
    async with world.db.session() as session:
        assert (await session.scalars(sa.select(Recording.id))).all() == [keep.id]


async def test_recordings_in_object_storage_play_through_presigned_urls_and_delete(
    world: World, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    import httpx

    from recorder.cli import RecorderSettings, make_storage

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"play-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for name, value in {"S3_BUCKET": bucket, "S3_ENDPOINT_URL": moto_endpoint,
                        "S3_ACCESS_KEY": "test", "S3_SECRET_KEY": "test"}.items():
        monkeypatch.setenv(f"TONGBU_RECORDER_{name}", value)
    rec = await make_recording(world)
    assert world.settings.storage_dir is not None
    local = world.settings.storage_dir / rec.storage_key
    storage = make_storage(world.settings, RecorderSettings())
    await storage.put_file(f"{rec.storage_key}/tracks/v1.000.webm",  # type: ignore[attr-defined]
                           local / "tracks" / "v1.000.webm")
    import shutil

    shutil.rmtree(local)  # only the bucket has it now (another machine recorded it)
    r = await world.request("admin", "GET", f"/api/recordings/{rec.id}/playback")
    url = r.json()["tracks"][0]["segments"][0]["url"]
    r = await world.client.get(url)
    assert r.status_code == 307
    async with httpx.AsyncClient() as plain:
        media = await plain.get(r.headers["location"], headers={"Range": "bytes=0-3"})
    assert media.status_code == 206 and media.content == b"\x1a\x45\xdf\xa3"
    r = await world.request("admin", "DELETE", f"/api/recordings/{rec.id}")
    assert r.status_code == 204
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=rec.storage_key)
    assert listed.get("KeyCount", 0) == 0
