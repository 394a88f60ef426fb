"""Lesson library (名校网络课堂): publish recordings, search, play, count views, attach files.

Scope rules live in server/library/scope.py, search in server/library/search.py.
Media (HLS, MP4, thumbnail) is served under `/api/library/media/<token>/...`
with a short-lived token the entry endpoint hands out after the visibility
check (see server/library/tokens.py for why it sits in the path).
"""

from __future__ import annotations

import asyncio
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.schemas import Input, Page, Public
from server.auth import Principal
from server.db.models import Course, Recording, RecordingState, TeachingLanguage, User, utcnow
from server.db.models_reach import (
    EntryState,
    LibraryEntry,
    LibraryResource,
    ResourceKind,
    Visibility,
)
from server.errors import (
    Conflict,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    TongbuError,
    ValidationFailed,
)
from server.library import media, resources, scope, search
from server.library import tokens as media_tokens
from server.policy import classroom_path, get_visible_lesson
from server.settings import Settings

router = APIRouter(prefix="/api/library", tags=["library"])
log = structlog.get_logger("tongbu.library")
# Still being written or failed: its files are not a lesson yet.
PUBLISHABLE = (RecordingState.READY, RecordingState.UPLOADED)

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class EntryCreate(Input):
    recording_id: int
    visibility: Visibility = Visibility.SCHOOL
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    grade: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    language: TeachingLanguage | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    description: str = Field(default="", max_length=5000)


class EntryPublic(Public):
    id: int
    recording_id: int
    lesson_id: int
    school_id: int
    visibility: Visibility
    title: str
    subject: str
    grade: str
    language: TeachingLanguage
    teacher_id: int | None
    teacher_name: str
    tags: list[str]
    description: str
    state: EntryState
    duration_s: float
    error: str = ""
    views: int
    published_at: datetime
    unpublished_at: datetime | None
    thumbnail_url: str | None = None


class ResourcePublic(Public):
    id: int
    kind: ResourceKind
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class EntryDetail(EntryPublic):
    hls_url: str | None = None
    mp4_url: str | None = None
    resources: list[ResourcePublic] = Field(default_factory=list)
    can_manage: bool = False


class Views(BaseModel):
    id: int
    views: int


class LibraryStats(BaseModel):
    entries: int
    views: int
    by_language: dict[str, int]
    by_subject: dict[str, int]


def _metrics(request: Request) -> dict[str, Counter]:
    """Counters on the app's own registry, created on first use."""
    state = request.app.state
    found: dict[str, Counter] | None = getattr(state, "library_metrics", None)
    if found is None:
        registry = state.metrics
        found = {
            "published": Counter("tongbu_library_published", "Library entries published",
                                 ["visibility"], registry=registry),
            "views": Counter("tongbu_library_views", "Library entry views", registry=registry),
            "uploads": Counter("tongbu_library_uploads", "Library resources uploaded",
                               ["kind", "outcome"], registry=registry),
        }
        state.library_metrics = found
    return found


def _storage(settings: Settings) -> Path:
    assert settings.storage_dir is not None
    return settings.storage_dir


def _media_url(token: str, key: str, entry: LibraryEntry) -> str:
    """URL of a file of the entry under the media route (relative to the export dir)."""
    export_dir = str(Path(entry.mp4_key).parent)
    rel = str(Path(key).relative_to(export_dir))
    return f"/api/library/media/{token}/{rel}"


def _public(entry: LibraryEntry, settings: Settings, cls: type[EntryPublic] = EntryPublic,
            **extra: Any) -> Any:
    token = media_tokens.issue(settings.ensure_secret(), entry.id, settings.library.media_link_ttl)
    out = cls.model_validate(entry).model_copy(update=extra)
    if entry.thumbnail_key:
        out.thumbnail_url = _media_url(token, entry.thumbnail_key, entry)
    if isinstance(out, EntryDetail):
        out.hls_url = _media_url(token, entry.hls_key, entry) if entry.hls_key else None
        out.mp4_url = _media_url(token, entry.mp4_key, entry) if entry.mp4_key else None
    return out


async def _visible_entry(session: AsyncSession, p: Principal, entry_id: int) -> LibraryEntry:
    entry = await session.get(LibraryEntry, entry_id)
    if entry is None:
        raise NotFound("library entry not found", {"entry_id": entry_id})
    seen = await session.scalar(
        sa.select(sa.func.count()).select_from(LibraryEntry).where(
            LibraryEntry.id == entry_id,
            sa.or_(scope.visible_entries(p), scope.managed_entries(p)),
        )
    )
    if not seen:
        raise PermissionDenied("library entry is outside your scope", {"entry_id": entry_id})
    return entry


@router.post("", response_model=EntryPublic, status_code=status.HTTP_201_CREATED)
async def publish(
    body: EntryCreate, request: Request, response: Response, session: SessionDep,
    settings: SettingsDep, p: CurrentPrincipal,
) -> Any:
    """Publish a recording: 201 when its MP4 export exists (HLS and a thumbnail are cut now),
    202 with state `processing` when it must be exported first (done in the background)."""
    if p.user_id is None:
        raise PermissionDenied("a classroom device cannot publish to the library")
    recording = await session.get(Recording, body.recording_id)
    if recording is None:
        raise NotFound("recording not found", {"recording_id": body.recording_id})
    lesson = await get_visible_lesson(session, p, recording.lesson_id)
    school_path = await classroom_path(session, lesson.main_classroom_id)
    scope.require_can_publish(p, lesson, school_path)
    if recording.state not in PUBLISHABLE:
        raise InvalidState(
            "only a finished recording can be published",
            {"recording_id": recording.id, "state": recording.state.value},
        )
    reach = await scope.scope_path_for(session, school_path, body.visibility)
    if not scope.holds(p, reach, await scope.root_paths(session)):
        raise PermissionDenied(
            "you may publish only within your own scope",
            {"visibility": body.visibility.value},
        )
    existing = await session.scalar(
        sa.select(LibraryEntry.id).where(
            LibraryEntry.recording_id == recording.id,
            LibraryEntry.state.in_((EntryState.PUBLISHED, EntryState.PROCESSING)),
        )
    )
    if existing is not None:
        raise Conflict("this recording is already in the library", {"entry_id": existing})
    storage = _storage(settings)
    background = await asyncio.to_thread(media.needs_export, storage, recording.storage_key)
    course = await session.get(Course, lesson.course_id) if lesson.course_id else None
    teacher = await session.get(User, lesson.teacher_id)
    school_id = int(school_path.strip("/").split("/")[-1])
    entry = LibraryEntry(
        recording_id=recording.id,
        lesson_id=lesson.id,
        school_id=school_id,
        school_path=school_path,
        visibility=body.visibility,
        scope_path=reach,
        published_by=p.user_id,
        teacher_id=lesson.teacher_id,
        teacher_name=teacher.display_name if teacher else "",
        title=body.title or lesson.title,
        subject=body.subject if body.subject is not None else (course.subject if course else ""),
        grade=body.grade if body.grade is not None else (course.grade if course else ""),
        language=body.language or lesson.language,
        tags=list(dict.fromkeys(body.tags)),
        description=body.description,
        state=EntryState.PROCESSING if background else EntryState.PUBLISHED,
    )
    if not background:
        # The export exists: cutting HLS (-c copy) and one thumbnail take a moment.
        _apply(entry, await asyncio.to_thread(media.prepare, storage, recording.storage_key))
    _index(entry, session)
    session.add(entry)
    await session.flush()
    audit(session, p, "library.published", f"library:{entry.id}",
          {"recording_id": recording.id, "visibility": body.visibility.value})
    _metrics(request)["published"].labels(body.visibility.value).inc()
    if background:
        # Rendering a lesson takes minutes: answer 202 now, finish in a task that starts
        # after this transaction has committed (it reads the entry back).
        await session.commit()
        _spawn(request, _prepare_later(request.app.state.db, storage, entry.id,
                                       recording.storage_key))
        response.status_code = status.HTTP_202_ACCEPTED
    return _public(entry, settings)


def _apply(entry: LibraryEntry, prepared: media.PreparedMedia) -> None:
    entry.hls_key, entry.mp4_key = prepared.hls_key, prepared.mp4_key
    entry.thumbnail_key, entry.duration_s = prepared.thumbnail_key, prepared.duration_s


def _spawn(request: Request, coro: Any) -> None:
    """Keep a reference (tasks are otherwise garbage-collected mid-flight)."""
    tasks: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault(
        "library_tasks", set())
    task = asyncio.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _prepare_later(db: Any, storage: Path, entry_id: int, storage_key: str) -> None:
    """Export in a thread, then publish the entry, or mark it failed with the reason.

    `db` is the database of the request that published (captured, not looked up later).
    """
    try:
        prepared = await asyncio.to_thread(media.prepare, storage, storage_key)
        error = None
    except Exception as exc:  # any failure must end in a visible `failed` state
        prepared, error = None, (exc.message if isinstance(exc, TongbuError) else str(exc))
        log.warning("library export failed", entry_id=entry_id, error=error)
    try:
        async with db.session() as session:
            entry = await session.get(LibraryEntry, entry_id)
            if entry is None or entry.state is not EntryState.PROCESSING:
                return  # unpublished (or deleted) meanwhile
            if prepared is not None:
                _apply(entry, prepared)
                entry.state, entry.published_at = EntryState.PUBLISHED, utcnow()
            else:
                entry.state, entry.error = EntryState.FAILED, (error or "export failed")[:2000]
    except Exception as exc:  # the database went away (shutdown): the entry stays processing
        log.error("library entry not updated", entry_id=entry_id, error=str(exc))


def _index(entry: LibraryEntry, session: AsyncSession) -> None:
    entry.tags_text = "|" + "".join(f"{t.replace('|', '/')}|" for t in entry.tags)
    entry.search_text = search.index_tokens(
        entry.title, " ".join(entry.tags), entry.subject, entry.grade, entry.teacher_name,
        entry.description,
    )
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    entry.search_vector = search.vector_expr(dialect, entry.search_text)


@router.get("", response_model=Page[EntryPublic])
async def list_entries(
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    subject: str | None = None,
    grade: str | None = None,
    language: TeachingLanguage | None = None,
    teacher_id: int | None = None,
    school_id: int | None = None,
    tag: str | None = None,
    state: EntryState = EntryState.PUBLISHED,
    sort: Annotated[str, Query(pattern="^(recent|views|relevance)$")] = "recent",
) -> Page[EntryPublic]:
    """Search and filter what the caller may see; `state=unpublished` lists managed entries."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if state is EntryState.PUBLISHED:
        query = sa.select(LibraryEntry).where(scope.visible_entries(p))
    else:
        query = sa.select(LibraryEntry).where(
            LibraryEntry.state == state, scope.managed_entries(p)
        )
    terms = search.query_terms(q or "")
    if q and q.strip() and not terms:
        raise ValidationFailed("the search has no words to look for", {"q": q})
    if terms:
        query = query.where(search.match_clause(dialect, terms))
    for column, value in ((LibraryEntry.subject, subject), (LibraryEntry.grade, grade),
                          (LibraryEntry.language, language),
                          (LibraryEntry.teacher_id, teacher_id),
                          (LibraryEntry.school_id, school_id)):
        if value is not None and value != "":
            query = query.where(column == value)
    if tag:
        escaped = tag.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(LibraryEntry.tags_text.like(f"%|{escaped}|%", escape="\\"))
    rank = search.rank_expr(dialect, terms)
    if sort == "views":
        query = query.order_by(LibraryEntry.views.desc(), LibraryEntry.id.desc())
    elif sort == "relevance" and rank is not None:
        query = query.order_by(rank.desc(), LibraryEntry.id.desc())
    else:
        query = query.order_by(LibraryEntry.published_at.desc(), LibraryEntry.id.desc())
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = (await session.scalars(query.limit(paging.limit).offset(paging.offset))).all()
    return Page[EntryPublic](
        items=[_public(r, settings) for r in rows], total=total or 0,
        limit=paging.limit, offset=paging.offset,
    )


@router.get("/stats", response_model=LibraryStats)
async def stats(session: SessionDep, p: CurrentPrincipal) -> LibraryStats:
    """Entries and views the caller can see, by teaching language and by subject."""
    visible = scope.visible_entries(p)
    by_language = dict(
        (await session.execute(
            sa.select(LibraryEntry.language, sa.func.count()).where(visible)
            .group_by(LibraryEntry.language)
        )).tuples().all()
    )
    by_subject = dict(
        (await session.execute(
            sa.select(LibraryEntry.subject, sa.func.count()).where(visible)
            .group_by(LibraryEntry.subject)
        )).tuples().all()
    )
    views = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LibraryEntry.views), 0)).where(visible)
    )
    return LibraryStats(
        entries=sum(by_language.values()), views=int(views or 0),
        by_language={str(getattr(k, "value", k)): v for k, v in by_language.items()},
        by_subject={k: v for k, v in by_subject.items()},
    )


@router.get("/{entry_id}", response_model=EntryDetail)
async def get_entry(
    entry_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> Any:
    entry = await _visible_entry(session, p, entry_id)
    files = (await session.scalars(
        sa.select(LibraryResource).where(LibraryResource.entry_id == entry.id)
        .order_by(LibraryResource.id)
    )).all()
    can_manage = True
    try:
        scope.require_can_unpublish(p, entry)
    except PermissionDenied:
        can_manage = False
    return _public(entry, settings, EntryDetail,
                   resources=[ResourcePublic.model_validate(f) for f in files],
                   can_manage=can_manage)


@router.post("/{entry_id}/unpublish", response_model=EntryPublic)
async def unpublish(
    entry_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> Any:
    entry = await session.get(LibraryEntry, entry_id)
    if entry is None:
        raise NotFound("library entry not found", {"entry_id": entry_id})
    scope.require_can_unpublish(p, entry)
    if entry.state is not EntryState.UNPUBLISHED:
        entry.state = EntryState.UNPUBLISHED
        entry.unpublished_at = utcnow()
        entry.unpublished_by = p.user_id
        audit(session, p, "library.unpublished", f"library:{entry.id}")
    await session.flush()
    return _public(entry, settings)


@router.post("/{entry_id}/views", response_model=Views)
async def count_view(
    entry_id: int, request: Request, session: SessionDep, p: CurrentPrincipal
) -> Views:
    """One more view (the player calls this when playback starts); atomic in SQL."""
    entry = await _visible_entry(session, p, entry_id)
    if entry.state is not EntryState.PUBLISHED:
        raise ValidationFailed("an unpublished entry is not counted", {"entry_id": entry_id})
    views = await session.scalar(
        sa.update(LibraryEntry).where(LibraryEntry.id == entry_id)
        .values(views=LibraryEntry.views + 1).returning(LibraryEntry.views)
    )
    _metrics(request)["views"].inc()
    return Views(id=entry_id, views=int(views or 0))


@router.post("/{entry_id}/resources", response_model=ResourcePublic,
             status_code=status.HTTP_201_CREATED)
async def attach(
    entry_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    kind: Annotated[ResourceKind, Form()],
    file: Annotated[UploadFile, File()],
) -> Any:
    """Attach 课件 (PDF), 导学案 (PDF/DOCX) or 微课 (MP4); type and size are checked."""
    entry = await session.get(LibraryEntry, entry_id)
    if entry is None:
        raise NotFound("library entry not found", {"entry_id": entry_id})
    scope.require_can_attach(p, entry)
    if p.user_id is None:
        raise PermissionDenied("a classroom device cannot attach resources")
    lib = settings.library
    limit = resources.limit_for(kind, lib.max_document_mb << 20, lib.max_video_mb << 20)
    counter = _metrics(request)["uploads"]
    try:
        stored = await resources.store_upload(file, kind, root=_storage(settings),
                                              entry_id=entry.id, limit=limit)
    except (PayloadTooLarge, ValidationFailed):
        counter.labels(kind.value, "rejected").inc()
        raise
    counter.labels(kind.value, "ok").inc()
    row = LibraryResource(
        entry_id=entry.id, kind=kind, filename=stored.filename,
        content_type=stored.content_type, size_bytes=stored.size, sha256=stored.sha256,
        storage_key=stored.key, uploaded_by=p.user_id,
    )
    session.add(row)
    await session.flush()
    audit(session, p, "library.resource_added", f"library:{entry.id}",
          {"kind": kind.value, "size": stored.size})
    return ResourcePublic.model_validate(row)


@router.get("/{entry_id}/resources/{resource_id}")
async def download(
    entry_id: int, resource_id: int, session: SessionDep, settings: SettingsDep,
    p: CurrentPrincipal,
) -> FileResponse:
    await _visible_entry(session, p, entry_id)
    row = await session.get(LibraryResource, resource_id)
    if row is None or row.entry_id != entry_id:
        raise NotFound("resource not found", {"resource_id": resource_id})
    path = _storage(settings) / row.storage_key
    if not path.is_file():
        raise NotFound("resource file is missing", {"resource_id": resource_id})
    return FileResponse(path, media_type=row.content_type, filename=row.filename)


@router.get("/media/{token}/{path:path}", include_in_schema=False)
async def media_file(token: str, path: str, session: SessionDep,
                     settings: SettingsDep) -> FileResponse:
    """Thumbnail, HLS playlist/segments and MP4 of an entry, by a media link."""
    entry_id = media_tokens.verify(settings.ensure_secret(), token)
    entry = await session.get(LibraryEntry, entry_id)
    if entry is None or not entry.mp4_key:
        raise NotFound("library entry not found", {"entry_id": entry_id})
    root = _storage(settings).resolve()
    export_dir = (root / entry.mp4_key).parent
    target = (export_dir / path).resolve()
    if export_dir not in target.parents or not target.is_file():
        raise NotFound("media file not found", {"path": path})
    if entry.state is not EntryState.PUBLISHED and target.name != media.THUMBNAIL:
        raise NotFound("library entry is unpublished", {"entry_id": entry_id})
    kind = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}.get(
        target.suffix, mimetypes.guess_type(target.name)[0] or "application/octet-stream")
    return FileResponse(target, media_type=kind, headers={"Cache-Control": "private, max-age=60"})
