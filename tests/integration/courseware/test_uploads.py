"""Courseware uploads over REST: content checks, rendering, PDF bombs, metadata, scope.

Real files (PDFs written by PDFium or by hand, PNG/JPEG by Pillow), the real
rendering child process, SQLite and PostgreSQL (`world`).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from server.courseware import storage
from server.db.models_collab import CoursewareDocument
from tests.integration.api.conftest import World
from tests.integration.courseware.conftest import handmade_pdf, image_bytes, pdf_bytes


async def upload(
    world: World, who: str, data: bytes, name: str = "slides.pdf", title: str | None = None,
    **owner: Any,
) -> httpx.Response:
    owner = owner or {"lesson_id": world.seed.lesson_ids[0]}
    if title is not None:
        owner = {**owner, "title": title}
    ctype = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}.get(
        name.rsplit(".", 1)[-1], "application/octet-stream"
    )
    return await world.request(
        who, "POST", "/api/courseware",
        files={"file": (name, data, ctype)},
        data={k: str(v) for k, v in owner.items()},
    )


async def fetch_image(world: World, url: str) -> Image.Image:
    r = await world.client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(r.content))


async def documents(world: World) -> int:
    async with world.db.session() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(CoursewareDocument)) or 0)


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    return body


async def test_pdf_upload_renders_every_page_within_the_size_bound(world: World) -> None:
    r = await upload(world, "teacher", pdf_bytes(3), title="分数的初步认识")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["title"] == "分数的初步认识" and doc["page_count"] == 3
    assert doc["source_kind"] == "pdf" and doc["lesson_id"] == world.seed.lesson_ids[0]
    bound = world.settings.courseware.page_max_px
    for page in doc["pages"]:
        image = await fetch_image(world, page["url"])
        assert image.size == (page["width"], page["height"])
        assert max(image.size) == bound  # A4 landscape: the long side hits the bound
    # The red rectangle drawn at (40..240, 40..160) pt on page 1 is there, scaled.
    first = (await fetch_image(world, doc["pages"][0]["url"])).convert("RGB")
    scale = bound / 842
    r_, g, b = first.getpixel((int(100 * scale), int((595 - 100) * scale)))
    assert r_ > 150 and g < 90 and b < 90
    listed = await world.request(
        "teacher", "GET", "/api/courseware", params={"lesson_id": world.seed.lesson_ids[0]}
    )
    assert [d["id"] for d in listed.json()] == [doc["id"]]
    metrics = (await world.client.get("/metrics")).text
    assert 'tongbu_courseware_uploads_total{outcome="ok"}' in metrics
    assert "tongbu_courseware_render_seconds_count" in metrics


@pytest.mark.parametrize("fmt,name", [("PNG", "board.png"), ("JPEG", "photo.jpg")])
async def test_images_are_reencoded_without_metadata(world: World, fmt: str, name: str) -> None:
    r = await upload(world, "teacher", image_bytes(fmt, (4000, 1000)), name=name)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["page_count"] == 1
    image = await fetch_image(world, doc["pages"][0]["url"])
    assert image.format == "JPEG"
    assert max(image.size) <= world.settings.courseware.page_max_px
    assert not image.getexif() and "exif" not in image.info
    raw = (await world.client.get(doc["pages"][0]["url"])).content
    assert b"secret-author" not in raw and b"SecretCam" not in raw
    if fmt == "JPEG":  # EXIF orientation 6 applied before stripping: portrait now
        assert image.size[0] < image.size[1]


async def test_corrupt_pdf_is_a_typed_error_and_leaves_nothing(world: World) -> None:
    before = await documents(world)
    body = error(await upload(world, "teacher", b"%PDF-1.7\n" + b"\x00garbage" * 500),
                 422, "courseware_invalid")
    assert body["details"]["reason"] == "corrupt"
    assert await documents(world) == before
    leftovers = list((storage.root(world.settings) / "incoming").glob("*"))
    assert leftovers == []
    metrics = (await world.client.get("/metrics")).text
    assert 'tongbu_courseware_uploads_total{outcome="courseware_invalid"}' in metrics


async def test_a_non_pdf_named_pdf_is_refused_by_content(world: World) -> None:
    html = b"<!doctype html><html><body>not a pdf</body></html>" * 20
    body = error(await upload(world, "teacher", html, name="slides.pdf"), 422, "courseware_invalid")
    assert body["details"]["reason"] == "unsupported_type"
    body = error(await upload(world, "teacher", b"", name="empty.pdf"), 422, "courseware_invalid")
    assert body["details"]["reason"] == "empty"


async def test_oversize_upload_is_413(world: World) -> None:
    limits = world.settings.courseware
    old = limits.max_upload_mb
    limits.max_upload_mb = 1
    try:
        big = pdf_bytes(1) + b"\n%" + b"x" * (2 << 20)
        error(await upload(world, "teacher", big), 413, "payload_too_large")
    finally:
        limits.max_upload_mb = old
    assert await documents(world) == 0


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda: handmade_pdf(media_box=b"[0 0 200000 200000]"), "page_too_large"),
        (lambda: pdf_bytes(5000, (612, 792), draw=False), "too_many_pages"),
    ],
    ids=["200000pt-page", "5000-pages"],
)
async def test_pdf_bombs_are_refused(world: World, make: Any, reason: str) -> None:
    body = error(await upload(world, "teacher", make()), 422, "courseware_invalid")
    # Refused on the page table (these reasons come from it), before any page is rendered;
    # how fast is measured by `tongbu bench courseware`.
    assert body["details"]["reason"] == reason
    assert await documents(world) == 0


async def test_deeply_nested_pdf_does_not_hurt_the_server(world: World) -> None:
    depth = 50_000
    nested = b"/Nest " + b"<< /A " * depth + b"1" + b" >>" * depth
    r = await upload(world, "teacher", handmade_pdf(nested))
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"]["code"] == "courseware_invalid"
    assert (await world.client.get("/api/health")).status_code == 200


async def test_a_renderer_that_runs_too_long_is_killed(world: World) -> None:
    limits = world.settings.courseware
    old = limits.render_timeout
    limits.render_timeout = 0.01  # the child cannot even start in time
    try:
        body = error(await upload(world, "teacher", pdf_bytes(1)), 422, "courseware_invalid")
    finally:
        limits.render_timeout = old
    assert body["details"]["reason"] == "timeout"
    assert await documents(world) == 0


async def test_a_renderer_over_its_memory_limit_is_a_typed_error(world: World) -> None:
    limits = world.settings.courseware
    old = limits.render_memory_mb
    limits.render_memory_mb = 48  # enough to start, not to hold a 1600 px page
    try:
        body = error(await upload(world, "teacher", pdf_bytes(1)), 422, "courseware_invalid")
    finally:
        limits.render_memory_mb = old
    assert body["details"]["reason"] in ("memory_limit", "corrupt")
    assert await documents(world) == 0
    assert (await upload(world, "teacher", pdf_bytes(1))).status_code == 201  # and recovers


async def test_upload_needs_exactly_one_owner(world: World) -> None:
    data = pdf_bytes(1)
    r = await world.request("teacher", "POST", "/api/courseware",
                            files={"file": ("a.pdf", data, "application/pdf")})
    error(r, 422, "validation_failed")
    r = await upload(world, "teacher", data, lesson_id=world.seed.lesson_ids[0],
                     course_id=world.seed.course_ids[0])
    error(r, 422, "validation_failed")


async def test_upload_and_read_scope(world: World) -> None:
    seed = world.seed
    data = pdf_bytes(1)
    # A receiving classroom device and a teacher of another county may not upload.
    error(await upload(world, f"device:{seed.receiving_classroom_ids[0]}", data),
          403, "permission_denied")
    error(await upload(world, "other_teacher", data), 403, "permission_denied")
    error(await upload(world, "teacher", data, lesson_id=999_999), 404, "not_found")
    doc = (await upload(world, "teacher", data)).json()
    # A classroom of the lesson reads it; the other county's admin does not; unknown is 404.
    ok = await world.request(f"device:{seed.receiving_classroom_ids[0]}", "GET",
                             f"/api/courseware/{doc['id']}")
    assert ok.status_code == 200
    error(await world.request("other_county_admin", "GET", f"/api/courseware/{doc['id']}"),
          403, "permission_denied")
    error(await world.request("teacher", "GET", "/api/courseware/999999"), 404, "not_found")
    # Page links: a forged token is 401, a missing page 404.
    token = doc["pages"][0]["url"].split("/")[4]
    error(await world.client.get(f"/api/courseware/pages/{token[:-2]}xx/1.jpg"),
          401, "unauthenticated")
    error(await world.client.get(f"/api/courseware/pages/{token}/9.jpg"), 404, "not_found")
    # Only the uploader (or the lesson's teacher, an admin in scope) deletes.
    error(await world.request("other_county_admin", "DELETE", f"/api/courseware/{doc['id']}"),
          403, "permission_denied")
    r = await world.request("county_admin", "DELETE", f"/api/courseware/{doc['id']}")
    assert r.status_code == 204
    assert not await asyncio.to_thread(storage.document_dir(world.settings, doc["id"]).exists)
    assert (await world.client.get(doc["pages"][0]["url"])).status_code == 404
