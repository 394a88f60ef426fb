"""Courseware (课件同步) over REST: upload, list, read, delete, and the page images.

An upload is attached to exactly one of a lesson, a course, a research session
or a meeting. It is validated by content (PDF/PNG/JPEG magic bytes), size and
page count, and rendered into JPEG pages by a child process with a timeout
(server.courseware.runner) before the answer: a 201 means every page exists.
Page images are served by signed short-lived URLs (server.courseware.links).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import FileResponse
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict

from server.api.common import audit
from server.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from server.auth import Principal
from server.courseware import links, runner, storage
from server.courseware.access import require_can_read, require_can_upload
from server.courseware.errors import CoursewareInvalid
from server.db.models import Lesson, Role
from server.db.models_collab import CoursewareDocument, SourceKind
from server.errors import NotFound, PayloadTooLarge, PermissionDenied, TongbuError, ValidationFailed
from server.policy import is_admin_over, lesson_places, require_can_run_lesson
from server.settings import Settings

router = APIRouter(prefix="/api/courseware", tags=["courseware"])
logger = structlog.get_logger("tongbu.courseware")

OWNERS = ("lesson_id", "course_id", "session_id", "meeting_id")


class PagePublic(BaseModel):
    n: int
    url: str
    width: int
    height: int


class DocumentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    filename: str
    source_kind: SourceKind
    size_bytes: int
    page_count: int
    lesson_id: int | None
    course_id: int | None
    session_id: int | None
    meeting_id: int | None
    uploaded_by: int | None
    created_at: datetime
    pages: list[PagePublic]


class _Metrics:
    def __init__(self, registry: Any) -> None:
        self.uploads = Counter(
            "tongbu_courseware_uploads",
            "Courseware uploads by outcome (ok, or the error code)",
            ["outcome"],
            registry=registry,
        )
        self.render_seconds = Histogram(
            "tongbu_courseware_render_seconds",
            "Time to render an upload into page images",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=registry,
        )


def _metrics(request: Request) -> _Metrics:
    state = request.app.state
    if getattr(state, "courseware_metrics", None) is None:
        state.courseware_metrics = _Metrics(state.metrics)
    metrics: _Metrics = state.courseware_metrics
    return metrics


def public(doc: CoursewareDocument, settings: Settings) -> DocumentPublic:
    urls = links.page_urls(
        settings.ensure_secret(), doc.id, doc.page_count, settings.auth.room_token_ttl
    )
    pages = [
        PagePublic(n=i + 1, url=url, width=int(size["width"]), height=int(size["height"]))
        for i, (url, size) in enumerate(zip(urls, doc.pages, strict=True))
    ]
    base = {c: getattr(doc, c) for c in DocumentPublic.model_fields if c != "pages"}
    return DocumentPublic(**base, pages=pages)


def _check_length(request: Request, settings: Settings) -> None:
    """Refuse a declared oversize body before reading it (multipart adds a little framing)."""
    declared = request.headers.get("content-length")
    limit = settings.courseware.max_upload_mb * (1 << 20)
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(
            f"file larger than the limit of {settings.courseware.max_upload_mb} MiB",
            {"limit_bytes": limit},
        )


@router.post("", response_model=DocumentPublic, status_code=status.HTTP_201_CREATED)
async def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    lesson_id: Annotated[int | None, Form()] = None,
    course_id: Annotated[int | None, Form()] = None,
    session_id: Annotated[int | None, Form()] = None,
    meeting_id: Annotated[int | None, Form()] = None,
) -> DocumentPublic:
    metrics = _metrics(request)
    try:
        doc = await _upload(
            request, session, settings, p, file, title,
            {"lesson_id": lesson_id, "course_id": course_id,
             "session_id": session_id, "meeting_id": meeting_id},
            metrics,
        )
    except TongbuError as exc:
        metrics.uploads.labels(exc.code).inc()
        raise
    metrics.uploads.labels("ok").inc()
    return public(doc, settings)


async def _upload(
    request: Request,
    session: SessionDep,
    settings: Settings,
    p: Principal,
    file: UploadFile,
    title: str | None,
    owner: dict[str, int | None],
    metrics: _Metrics,
) -> CoursewareDocument:
    given = {k: v for k, v in owner.items() if v is not None}
    if len(given) != 1:
        raise ValidationFailed(
            "attach the upload to exactly one of lesson_id, course_id, session_id, meeting_id",
            {"given": sorted(given)},
        )
    _check_length(request, settings)
    await require_can_upload(session, p, **owner)
    filename = storage.clean_filename(file.filename)
    received = await storage.receive(file, settings)
    doc = CoursewareDocument(
        title=(title or "").strip() or Path(filename).stem[:200] or filename,
        filename=filename,
        source_kind=SourceKind(received.kind.value),
        size_bytes=received.size,
        sha256=received.sha256,
        page_count=0,
        pages=[],
        uploaded_by=p.user_id,
        **owner,
    )
    session.add(doc)
    await session.flush()
    directory = storage.document_dir(settings, doc.id)
    try:
        # A rolled-back upload may have left files under a reused id (SQLite reuses ids).
        await asyncio.to_thread(shutil.rmtree, directory, True)
        directory.mkdir(parents=True, exist_ok=True)
        source = directory / f"source.{storage.EXT[received.kind]}"
        os.replace(received.path, source)
        rendered = await runner.render(
            source, received.kind, directory / "pages", settings.courseware
        )
    except BaseException:
        received.path.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    metrics.render_seconds.observe(rendered.seconds)
    doc.pages = rendered.pages
    doc.page_count = len(rendered.pages)
    await session.flush()
    logger.info(
        "courseware uploaded",
        document_id=doc.id,
        kind=received.kind.value,
        pages=doc.page_count,
        bytes=received.size,
        render_s=round(rendered.seconds, 3),
    )
    audit(session, p, "courseware.uploaded", f"courseware:{doc.id}",
          {"pages": doc.page_count, **{k: v for k, v in owner.items() if v is not None}})
    return doc


async def _get(session: SessionDep, p: Principal, document_id: int) -> CoursewareDocument:
    doc = await session.get(CoursewareDocument, document_id)
    if doc is None:
        raise NotFound("courseware document not found", {"document_id": document_id})
    await require_can_read(session, p, doc)
    return doc


@router.get("", response_model=list[DocumentPublic])
async def list_documents(
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    lesson_id: int | None = None,
    course_id: int | None = None,
    session_id: int | None = None,
    meeting_id: int | None = None,
) -> list[DocumentPublic]:
    """Documents of one owner (give exactly one filter); scope as for reading one of them."""
    given = {
        k: v
        for k, v in {"lesson_id": lesson_id, "course_id": course_id,
                     "session_id": session_id, "meeting_id": meeting_id}.items()
        if v is not None
    }
    if len(given) != 1:
        raise ValidationFailed("filter by exactly one of " + ", ".join(OWNERS))
    (key, value), = given.items()
    probe = CoursewareDocument(**{key: value})
    await require_can_read(session, p, probe)
    rows = await session.scalars(
        sa.select(CoursewareDocument)
        .where(getattr(CoursewareDocument, key) == value)
        .order_by(CoursewareDocument.id)
    )
    return [public(d, settings) for d in rows.all()]


@router.get("/{document_id}", response_model=DocumentPublic)
async def get_document(
    document_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> DocumentPublic:
    return public(await _get(session, p, document_id), settings)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    document_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> None:
    """The uploader, the lesson's teacher or an admin over it; the files go too."""
    doc = await _get(session, p, document_id)
    allowed = p.user_id is not None and p.user_id == doc.uploaded_by
    if not allowed and doc.lesson_id is not None:
        lesson = await session.get(Lesson, doc.lesson_id)
        assert lesson is not None
        try:
            require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
            allowed = True
        except PermissionDenied:
            allowed = False
    if not allowed and p.role is Role.ADMIN:
        from server.policy import unit_path

        uploader_unit = None
        if doc.uploaded_by is not None:
            from server.db.models import User

            user = await session.get(User, doc.uploaded_by)
            uploader_unit = user.org_unit_id if user else None
        allowed = uploader_unit is not None and is_admin_over(
            p, await unit_path(session, uploader_unit)
        )
    if not allowed:
        raise PermissionDenied("only the uploader, the teacher or an admin may delete it")
    await session.delete(doc)
    await session.flush()
    shutil.rmtree(storage.document_dir(settings, document_id), ignore_errors=True)
    audit(session, p, "courseware.deleted", f"courseware:{document_id}")


@router.get("/pages/{token}/{page}.jpg", include_in_schema=True)
async def page_image(token: str, page: int, settings: SettingsDep) -> FileResponse:
    """A rendered page; the signed token (from the document or the room) is the permission."""
    document_id = links.verify(settings.ensure_secret(), token)
    path = storage.page_path(settings, document_id, page)
    if page < 1 or not path.is_file():
        raise NotFound("no such page", {"document_id": document_id, "page": page})
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


__all__ = ["CoursewareInvalid", "DocumentPublic", "router"]
