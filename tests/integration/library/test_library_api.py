"""Lesson library over REST on SQLite and PostgreSQL: publish, scope, search, views, files."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.db.models import Recording, RecordingState
from tests.integration.api.conftest import World

pytestmark = pytest.mark.slow


async def _recording(world: World, src: Path, name: str, lesson_index: int = 0) -> int:
    """Copy a recording directory into the world's storage and register its row."""
    assert world.settings.storage_dir is not None
    dest = world.settings.storage_dir / name
    if not dest.exists():
        shutil.copytree(src, dest)
    async with world.db.session() as session:
        rec = Recording(lesson_id=world.seed.lesson_ids[lesson_index], storage_key=name,
                        state=RecordingState.READY)
        session.add(rec)
        await session.flush()
        return rec.id


async def _ready_recording(world: World, mp4: Path, name: str, lesson_index: int = 0) -> int:
    """A recording whose MP4 export already exists (publish then only cuts HLS + thumbnail)."""
    assert world.settings.storage_dir is not None
    export = world.settings.storage_dir / name / "export"
    export.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mp4, export / f"{name}.mp4")
    return await _recording(world, export.parent, name, lesson_index)


async def _publish(world: World, who: str, recording_id: int, **body: object) -> dict:
    r = await world.request(who, "POST", "/api/library",
                            json={"recording_id": recording_id, **body})
    assert r.status_code == 201, r.text
    return r.json()


async def _until_done(world: World, entry_id: int, within: float = 60.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        body = (await world.request("teacher", "GET", f"/api/library/{entry_id}")).json()
        if body["state"] != "processing" or loop.time() > deadline:
            return dict(body)
        await asyncio.sleep(0.2)


async def test_publish_exports_hls_and_thumbnail_and_plays(
    world: World, exported_recording: Path
) -> None:
    rid = await _recording(world, exported_recording, "rec-full")
    r = await world.request("teacher", "POST", "/api/library", json={
        "recording_id": rid, "visibility": "school", "tags": ["分数", "三年级"],
        "description": "分数的初步认识，主讲课堂与两个教学点"})
    # Never exported: accepted now, rendered in the background.
    assert r.status_code == 202 and r.json()["state"] == "processing", r.text
    entry = r.json()
    assert entry["title"] == "三年级数学" and entry["subject"] == "数学"
    # Not listed for others while processing; publishing it twice is a conflict.
    assert (await world.request("county_admin", "GET", "/api/library")).json()["total"] == 0
    again = await world.request("teacher", "POST", "/api/library", json={"recording_id": rid})
    assert again.status_code == 409
    detail = await _until_done(world, entry["id"])
    assert detail["state"] == "published" and detail["error"] == ""
    assert detail["language"] == "zh" and 2.5 < detail["duration_s"] < 5
    thumb = await world.client.get(detail["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"  # JPEG
    playlist = await world.client.get(detail["hls_url"])
    assert playlist.status_code == 200 and "#EXTM3U" in playlist.text
    segment = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
    base = detail["hls_url"].rsplit("/", 1)[0]
    seg = await world.client.get(f"{base}/{segment}")
    assert seg.status_code == 200 and seg.content[0] == 0x47  # MPEG-TS sync byte
    # The media route stays inside the export directory and needs a valid link.
    token_base = detail["hls_url"].split("/hls/")[0]
    assert (await world.client.get(f"{token_base}/..%2F..%2Fmanifest.json")).status_code == 404
    bad = await world.client.get("/api/library/media/not-a-token/thumbnail.jpg")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"


async def test_scope_of_publishing_and_reading(world: World, small_mp4: Path) -> None:
    rid = await _ready_recording(world, small_mp4, "rec-scope")
    # A teacher holds only the school: county is out of their scope.
    r = await world.request("teacher", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "county"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    # Another county's admin may not publish this school's recording at all.
    r = await world.request("other_county_admin", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "school"})
    assert r.status_code == 403
    entry = await _publish(world, "teacher", rid, visibility="school")
    # School scope: the other county's teacher cannot see it, the county admin can.
    assert (await world.request("other_teacher", "GET",
                                f"/api/library/{entry['id']}")).status_code == 403
    assert (await world.request("county_admin", "GET",
                                f"/api/library/{entry['id']}")).status_code == 200
    # Twice is a conflict; the county admin widens it by unpublishing and publishing county-wide.
    r = await world.request("county_admin", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "county"})
    assert r.status_code == 409
    r = await world.request("other_county_admin", "POST",
                            f"/api/library/{entry['id']}/unpublish")
    assert r.status_code == 403
    r = await world.request("county_admin", "POST", f"/api/library/{entry['id']}/unpublish")
    assert r.status_code == 200 and r.json()["state"] == "unpublished"
    r = await world.request("county_admin", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "city"})
    assert r.status_code == 403
    wide = await _publish(world, "admin", rid, visibility="public", language="bilingual")
    other = await world.request("other_teacher", "GET", "/api/library")
    assert [e["id"] for e in other.json()["items"]] == [wide["id"]]
    # A recording still being written is not publishable yet.
    async with world.db.session() as session:
        live = Recording(lesson_id=world.seed.lesson_ids[1], storage_key="rec-scope",
                         state=RecordingState.RECORDING)
        session.add(live)
        await session.flush()
        live_id = live.id
    r = await world.request("teacher", "POST", "/api/library",
                            json={"recording_id": live_id, "visibility": "school"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    assert (await world.request("teacher", "POST", "/api/library",
                                json={"recording_id": 424242})).status_code == 404
    # Classroom devices do not publish.
    cid = world.seed.main_classroom_id
    r = await world.request(f"device:{cid}", "POST", "/api/library",
                            json={"recording_id": rid, "visibility": "school"})
    assert r.status_code == 403


async def test_search_chinese_bigrams_mongolian_words_and_filters(
    world: World, small_mp4: Path
) -> None:
    a = await _publish(world, "teacher", await _ready_recording(world, small_mp4, "s-a", 0),
                       title="分数的初步认识", subject="数学", grade="三年级",
                       tags=["分数"], description="用圆和长方形认识几分之一")
    b = await _publish(world, "teacher", await _ready_recording(world, small_mp4, "s-b", 1),
                       title="ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ 蒙古语文 第三课", subject="蒙古语文", language="mn",
                       grade="二年级", tags=["蒙古语授课"])
    c = await _publish(world, "teacher", await _ready_recording(world, small_mp4, "s-c", 2),
                       title="Music: songs of the grassland", subject="音乐", language="bilingual",
                       grade="四年级")

    async def ids(**query: object) -> list[int]:
        r = await world.request("teacher", "GET", "/api/library", params=query)
        assert r.status_code == 200, r.text
        return sorted(e["id"] for e in r.json()["items"])

    assert await ids(q="分数") == [a["id"]]
    assert await ids(q="几分之一") == [a["id"]]      # inside the description
    assert await ids(q="初步 认识") == [a["id"]]
    assert await ids(q="分数 蒙古") == []             # all terms must match
    assert await ids(q="ᠮᠣᠩᠭᠣᠯ") == [b["id"]]         # traditional Mongolian word
    assert await ids(q="grass") == [c["id"]]          # Latin prefix
    assert await ids(language="mn") == [b["id"]]
    assert await ids(language="bilingual", subject="音乐") == [c["id"]]
    assert await ids(grade="三年级") == [a["id"]]
    assert await ids(tag="蒙古语授课") == [b["id"]]
    assert await ids(tag="蒙古") == []  # tags match whole, not in part
    assert await ids(tag="分数") == [a["id"]]
    r = await world.request("teacher", "GET", "/api/library", params={"q": "!!!"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = await world.request("teacher", "GET", "/api/library", params={"language": "fr"})
    assert r.status_code == 422
    stats = (await world.request("teacher", "GET", "/api/library/stats")).json()
    assert stats["by_language"] == {"zh": 1, "mn": 1, "bilingual": 1}
    if world.db.engine.dialect.name == "postgresql":
        # The search goes through the GIN index over the stored tsvector.
        async with world.db.session() as session:
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join((await session.execute(sa.text(
                "EXPLAIN SELECT id FROM library_entry WHERE search_vector @@ "
                "to_tsquery('simple'::regconfig, '''分数''')"))).scalars())
        assert "ix_library_entry_fts" in plan, plan


async def test_views_count_up(world: World, small_mp4: Path) -> None:
    entry = await _publish(world, "teacher",
                           await _ready_recording(world, small_mp4, "rec-views"))
    for expected in (1, 2, 3):
        r = await world.request("county_admin", "POST", f"/api/library/{entry['id']}/views")
        assert r.json() == {"id": entry["id"], "views": expected}
    r = await world.request("teacher", "GET", "/api/library", params={"sort": "views"})
    assert r.json()["items"][0]["views"] == 3
    r = await world.request("other_teacher", "POST", f"/api/library/{entry['id']}/views")
    assert r.status_code == 403
    assert (await world.request("teacher", "POST", "/api/library/999999/views")).status_code == 404


async def test_resources_are_checked_by_type_and_size(
    world: World, small_mp4: Path, tmp_path: Path
) -> None:
    entry = await _publish(world, "teacher", await _ready_recording(world, small_mp4, "rec-res"))
    url = f"/api/library/{entry['id']}/resources"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = await world.request("teacher", "POST", url, data={"kind": "courseware"},
                            files={"file": ("第一课 课件.pdf", pdf, "application/pdf")})
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["size_bytes"] == len(pdf) and res["filename"] == "第一课 课件.pdf"
    got = await world.request("county_admin", "GET", f"{url}/{res['id']}")
    assert got.status_code == 200 and got.content == pdf
    clip = small_mp4.read_bytes()  # noqa: ASYNC240 - a 10 kB test file
    r = await world.request("teacher", "POST", url, data={"kind": "microlesson"},
                            files={"file": ("微课.mp4", clip, "video/mp4")})
    assert r.status_code == 201
    # A renamed non-PDF, a wrong extension, a bad declared type, an unknown kind: 422.
    for kind, name, body, ctype in (
        ("courseware", "evil.pdf", b"MZ\x90\x00binary", "application/pdf"),
        ("courseware", "slides.exe", pdf, "application/pdf"),
        ("guide", "guide.pdf", pdf, "text/html"),
        ("poster", "x.pdf", pdf, "application/pdf"),
        ("courseware", "empty.pdf", b"", "application/pdf"),
    ):
        r = await world.request("teacher", "POST", url, data={"kind": kind},
                                files={"file": (name, body, ctype)})
        assert r.status_code == 422, (name, r.text)
    # Over the limit (lowered for the test): 413, and nothing is left on disk.
    world.settings.library.max_document_mb = 1
    try:
        big = b"%PDF-" + b"0" * (1 << 20)
        r = await world.request("teacher", "POST", url, data={"kind": "courseware"},
                                files={"file": ("big.pdf", big, "application/pdf")})
    finally:
        world.settings.library.max_document_mb = 50
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert world.settings.storage_dir is not None
    leftovers = list((world.settings.storage_dir / "library" / str(entry["id"])).glob(".upload-*"))
    assert leftovers == []
    # Only the entry's teacher or an admin in scope attaches.
    r = await world.request("other_teacher", "POST", url, data={"kind": "courseware"},
                            files={"file": ("a.pdf", pdf, "application/pdf")})
    assert r.status_code == 403
    detail = (await world.request("teacher", "GET", f"/api/library/{entry['id']}")).json()
    assert [x["kind"] for x in detail["resources"]] == ["courseware", "microlesson"]


async def test_a_broken_recording_ends_in_a_failed_entry_with_the_reason(
    world: World, tmp_path: Path
) -> None:
    broken = tmp_path / "rec-broken"
    (broken / "tracks").mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json", "utf-8")
    rid = await _recording(world, broken, "rec-broken")
    r = await world.request("teacher", "POST", "/api/library", json={"recording_id": rid})
    assert r.status_code == 202
    detail = await _until_done(world, r.json()["id"])
    assert detail["state"] == "failed" and "not valid" in detail["error"], detail
    managed = await world.request("teacher", "GET", "/api/library", params={"state": "failed"})
    assert [e["id"] for e in managed.json()["items"]] == [detail["id"]]
    # A failed entry does not block publishing again (after fixing the files).
    r = await world.request("teacher", "POST", "/api/library", json={"recording_id": rid})
    assert r.status_code == 202
    assert (await _until_done(world, r.json()["id"]))["state"] == "failed"


def test_tokeniser_expands_cjk_into_bigrams() -> None:
    from server.library.search import index_tokens, query_terms

    assert index_tokens("数学课").split() == ["数", "学", "课", "数学", "学课"]
    assert query_terms("数学课 Grass") == ["数学", "学课", "grass"]
    assert query_terms("课") == ["课"]
    assert subprocess is not None
