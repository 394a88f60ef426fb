"""Recordings: list, detail, the recorder's reports, playback, media, timeline, comments, delete.

Playback serves each track's WebM segments as the recorder wrote them, with
HTTP Range (Starlette's FileResponse answers 206/416), rather than the HLS
export: the per-track files exist the moment a segment closes, cost no
transcoding, keep every classroom separately placeable on the manifest's
timeline (the HLS export is one composited picture with mixed audio, so no
side-by-side choice and no audio selection), and Chromium plays VP8/Opus WebM
natively. `<video src>` cannot send a bearer header, so the playback bundle
hands out media URLs carrying a short-lived token bound to one recording.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import jwt
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.recording_retention import (
    delete_recording,
    effective_policy,
    unit_path,
    usage_under,
)
from server.api.recording_schemas import (
    CommentIn,
    MediaFile,
    Playback,
    PlaybackTrack,
    PolicyIn,
    PolicyOut,
    RecorderReport,
    RecordingDetailOut,
    RecordingOut,
    TimelineItem,
)
from server.api.recording_state import apply_report
from server.api.schemas import Page
from server.auth import Principal
from server.db.models import (
    Evaluation,
    EvaluationComment,
    Lesson,
    LessonEvent,
    Recording,
    RecordingState,
    Role,
)
from server.db.models_recording import RecordingPolicy
from server.errors import (
    InvalidState,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from server.policy import (
    get_visible_lesson,
    is_admin_over,
    lesson_places,
    require_admin_over,
    visible_evaluations,
    visible_lessons,
)
from server.settings import Settings
from server.tokens import RoomRole, verify_room_token

router = APIRouter(prefix="/api/recordings", tags=["recordings"])
policies = APIRouter(prefix="/api/org-units/{unit_id}/recording-policy", tags=["recordings"])

_bearer = HTTPBearer(auto_error=False, description="the recorder's RECORDER room token")
MEDIA_TYP = "recording_media"
COMMENT_ROLES = {Role.ADMIN, Role.TEACHER, Role.EVALUATOR, Role.RESEARCHER}


def _out(rec: Recording, title: str = "", detail: bool = False) -> RecordingOut:
    schema = RecordingDetailOut if detail else RecordingOut
    out = schema.model_validate(rec)
    out.lesson_title = title
    return out


async def _visible_recording(session: Any, p: Principal, recording_id: int) -> tuple[
        Recording, Lesson]:
    rec = await session.get(Recording, recording_id)
    if rec is None:
        raise NotFound("recording not found", {"recording_id": recording_id})
    lesson = await get_visible_lesson(session, p, rec.lesson_id)
    return rec, lesson


# --- list and detail -----------------------------------------------------------------------


@router.get("", response_model=Page[RecordingOut])
async def list_recordings(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    lesson_id: int | None = None,
    state: RecordingState | None = None,
) -> Page[RecordingOut]:
    query = (
        sa.select(Recording, Lesson.title)
        .join(Lesson, Lesson.id == Recording.lesson_id)
        .where(visible_lessons(p))
        .order_by(Recording.id.desc())
    )
    if lesson_id is not None:
        query = query.where(Recording.lesson_id == lesson_id)
    if state is not None:
        query = query.where(Recording.state == state)
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = (await session.execute(query.limit(paging.limit).offset(paging.offset))).all()
    return Page[RecordingOut](
        items=[_out(rec, title) for rec, title in rows],
        total=total or 0,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{recording_id}", response_model=RecordingDetailOut)
async def get_recording(recording_id: int, session: SessionDep, p: CurrentPrincipal) -> Any:
    rec, lesson = await _visible_recording(session, p, recording_id)
    return _out(rec, lesson.title, detail=True)


# --- the recorder's reports ----------------------------------------------------------------


@router.post("/{recording_id}/report", response_model=RecordingOut)
async def report(
    recording_id: int,
    body: RecorderReport,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Any:
    """Progress and final state from the recorder process of this recording's lesson."""
    if credentials is None:
        raise Unauthenticated("missing bearer token")
    claims = verify_room_token(settings.ensure_secret(), credentials.credentials)
    rec = await session.get(Recording, recording_id)
    if claims.role is not RoomRole.RECORDER:
        raise PermissionDenied("only the recorder reports on a recording")
    if rec is None:
        raise NotFound("recording not found", {"recording_id": recording_id})
    if claims.room != f"lesson-{rec.lesson_id}":
        raise PermissionDenied("this token is for another lesson's room",
                               {"room": claims.room, "recording_id": recording_id})
    if body.manifest is not None and body.manifest.get("recording_id") not in (
        None, rec.storage_key
    ):
        raise ValidationFailed("manifest of another recording",
                               {"expected": rec.storage_key,
                                "got": body.manifest.get("recording_id")})
    await apply_report(session, settings, rec, body.state, body.manifest, error=body.error,
                       size_bytes=body.size_bytes)
    lesson = await session.get(Lesson, rec.lesson_id)
    return _out(rec, lesson.title if lesson else "")


# --- delete --------------------------------------------------------------------------------


@router.delete("/{recording_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(
    recording_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> Response:
    """Admins over the lesson's main classroom; the files go, an audit entry stays."""
    rec, lesson = await _visible_recording(session, p, recording_id)
    places = await lesson_places(session, lesson)
    require_admin_over(p, places.main_path, "recording")
    if rec.state in (RecordingState.RECORDING, RecordingState.PROCESSING,
                     RecordingState.PENDING):
        raise InvalidState("the recording is still being made",
                           {"recording_id": rec.id, "state": rec.state.value})
    await delete_recording(session, settings, rec, p.identity, "deleted by an admin",
                           scope_path=places.main_path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- playback ------------------------------------------------------------------------------


def media_token(settings: Settings, rec: Recording, p: Principal) -> str:
    now = int(time.time())
    payload = {"typ": MEDIA_TYP, "rec": rec.id, "sub": p.identity, "iat": now,
               "exp": now + settings.recording.media_token_ttl}
    return jwt.encode(payload, settings.ensure_secret(), algorithm=settings.auth.algorithm)


def check_media_token(settings: Settings, token: str, recording_id: int) -> None:
    try:
        claims = jwt.decode(token, settings.ensure_secret(), algorithms=[settings.auth.algorithm])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("media link expired; reload the player") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid media token") from exc
    if claims.get("typ") != MEDIA_TYP or claims.get("rec") != recording_id:
        raise PermissionDenied("this media token is for another recording")


def can_comment(p: Principal) -> bool:
    return p.role in COMMENT_ROLES


@router.get("/{recording_id}/playback", response_model=Playback)
async def playback(
    recording_id: int, request: Request, session: SessionDep, settings: SettingsDep,
    p: CurrentPrincipal,
) -> Playback:
    rec, lesson = await _visible_recording(session, p, recording_id)
    if rec.state is RecordingState.FAILED and not rec.manifest:
        raise InvalidState("this recording failed and has nothing to play",
                           {"recording_id": rec.id, "error": rec.error})
    manifest = rec.manifest or {}
    token = media_token(settings, rec, p)
    # A path, not an absolute URL: right behind any proxy, whatever Host it rewrites.
    base = str(request.app.url_path_for("recording_media", recording_id=rec.id, file="x"))[:-1]
    main = manifest.get("main_participant")
    tracks = [
        PlaybackTrack(
            id=t["id"], participant=t["participant"], classroom=t.get("classroom"),
            kind=t["kind"], codec=t["codec"], main=t["participant"] == main,
            segments=[
                MediaFile(track_id=t["id"], segment=s["index"], url=f"{base}{s['file']}?t={token}",
                          start_ms=s["start_offset_ms"], duration_ms=s.get("duration_ms", 0.0),
                          closed=s.get("closed", False))
                for s in t.get("segments", [])
            ],
        )
        for t in manifest.get("tracks", [])
    ]
    places = await lesson_places(session, lesson)
    return Playback(
        recording=_out(rec, lesson.title),
        lesson_start_utc=manifest.get("lesson_start_utc"),
        duration_ms=max([s.start_ms + s.duration_ms for t in tracks for s in t.segments],
                        default=float(rec.duration_ms)),
        tracks=tracks,
        can_comment=can_comment(p),
        can_delete=is_admin_over(p, places.main_path),
        expires_in=settings.recording.media_token_ttl,
    )


def _media_files(rec: Recording) -> set[str]:
    files = {s["file"] for t in (rec.manifest or {}).get("tracks", []) for s in t["segments"]}
    return files | {"events.jsonl"}


@router.get("/{recording_id}/media/{file:path}", name="recording_media")
async def media(
    recording_id: int,
    file: str,
    session: SessionDep,
    settings: SettingsDep,
    t: Annotated[str, Query(min_length=10, max_length=2000, description="media token")],
) -> Response:
    """One file of the recording, with Range; only files named by its manifest."""
    check_media_token(settings, t, recording_id)
    rec = await session.get(Recording, recording_id)
    if rec is None:
        raise NotFound("recording not found", {"recording_id": recording_id})
    if file not in _media_files(rec):
        raise NotFound("no such file in this recording", {"file": file})
    assert settings.storage_dir is not None
    from recorder.storage import validate_key

    path = settings.storage_dir / validate_key(rec.storage_key) / validate_key(file)
    if path.is_file():
        media_type = {"webm": "video/webm", "mkv": "video/x-matroska"}.get(
            file.rsplit(".", 1)[-1], "application/x-ndjson")
        if media_type == "video/webm" and "/" in file:
            kind = _kind_of(rec, file)
            media_type = "audio/webm" if kind == "audio" else media_type
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "private, max-age=3600"})
    from server.api.recording_retention import _storage

    storage = _storage(settings)
    if storage is not None and hasattr(storage, "presigned_get"):
        url = await storage.presigned_get(f"{rec.storage_key}/{file}", 900)
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    raise NotFound("the file is not on this server's storage", {"file": file})


def _kind_of(rec: Recording, file: str) -> str:
    for t in (rec.manifest or {}).get("tracks", []):
        if any(s["file"] == file for s in t["segments"]):
            return str(t["kind"])
    return ""


# --- timeline and comments -----------------------------------------------------------------


def _kind(event_type: str) -> str:
    t = event_type.lower()
    for key, kind in (("comment", "comment"), ("floor", "floor"), ("slide", "slide"),
                      ("courseware", "slide"), ("quiz", "quiz"), ("lesson.", "lesson")):
        if key in t:
            return kind
    return "other"


def _recorder_events(settings: Settings, rec: Recording) -> list[TimelineItem]:
    assert settings.storage_dir is not None
    path = settings.storage_dir / rec.storage_key / "events.jsonl"
    items: list[TimelineItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return items
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if e.get("type") not in ("floor_changed", "recorder_resumed", "layer_switched",
                                 "upload_failed"):
            continue
        data = e.get("data") or {}
        items.append(TimelineItem(
            offset_ms=int(e.get("offset_ms", 0)), type=e["type"],
            kind="floor" if e["type"] == "floor_changed" else "recorder",
            actor=e.get("actor") or "", text=str(data.get("holder") or ""), source="recorder",
            data=data))
    return items


@router.get("/{recording_id}/timeline", response_model=list[TimelineItem])
async def timeline(
    recording_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> list[TimelineItem]:
    """Lesson events (floor, slides, quiz, comments), evaluation comments you may read,
    and the recorder's own marks, on the lesson timeline, sorted."""
    rec, lesson = await _visible_recording(session, p, recording_id)
    events = (await session.scalars(
        sa.select(LessonEvent).where(LessonEvent.lesson_id == lesson.id)
        .order_by(LessonEvent.offset_ms, LessonEvent.id))).all()
    items = [
        TimelineItem(offset_ms=e.offset_ms, type=e.type, kind=_kind(e.type), actor=e.actor,
                     text=str(e.payload.get("text") or e.payload.get("holder") or ""),
                     source="lesson", data=e.payload)
        for e in events
    ]
    has_floor = any(i.kind == "floor" for i in items)
    recorded = await asyncio.to_thread(_recorder_events, settings, rec)
    items += [i for i in recorded if not (has_floor and i.kind == "floor")]
    comments = (await session.execute(
        sa.select(EvaluationComment, Evaluation.evaluator_id)
        .join(Evaluation, Evaluation.id == EvaluationComment.evaluation_id)
        .where(Evaluation.lesson_id == lesson.id, visible_evaluations(p)))).all()
    items += [
        TimelineItem(offset_ms=c.offset_ms, type="evaluation.comment", kind="comment",
                     actor=f"user-{evaluator}", text=c.text, source="evaluation",
                     data={"classroom_id": c.classroom_id})
        for c, evaluator in comments
    ]
    items.sort(key=lambda i: i.offset_ms)
    return items


@router.post("/{recording_id}/comments", response_model=TimelineItem,
             status_code=status.HTTP_201_CREATED)
async def add_comment(
    recording_id: int, body: CommentIn, session: SessionDep, p: CurrentPrincipal
) -> TimelineItem:
    """A timestamped comment while replaying: evaluators, teachers and admins in scope."""
    rec, lesson = await _visible_recording(session, p, recording_id)
    if not can_comment(p):
        raise PermissionDenied("classroom devices do not comment on recordings")
    if body.classroom_id is not None and body.classroom_id not in (
        lesson.main_classroom_id, *lesson.receiving_classroom_ids
    ):
        raise ValidationFailed("classroom_id is not a classroom of this lesson",
                               {"classroom_id": body.classroom_id})
    if rec.duration_ms and body.offset_ms > rec.duration_ms + 60_000:
        raise ValidationFailed("offset_ms is past the end of the recording",
                               {"offset_ms": body.offset_ms, "duration_ms": rec.duration_ms})
    payload = {"text": body.text, "recording_id": rec.id, "classroom_id": body.classroom_id,
               "author": p.name, "role": p.role.value}
    event = LessonEvent(lesson_id=lesson.id, type="recording.comment", actor=p.identity,
                        offset_ms=body.offset_ms, payload=payload)
    session.add(event)
    await session.flush()
    return TimelineItem(offset_ms=event.offset_ms, type=event.type, kind="comment",
                        actor=event.actor, text=body.text, source="lesson", data=payload)


# --- retention and quota policy per org unit -----------------------------------------------


async def _policy_out(session: Any, settings: Settings, unit_id: int) -> PolicyOut:
    path = await unit_path(session, unit_id)
    if not path:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    own = await session.get(RecordingPolicy, unit_id)
    eff = await effective_policy(session, settings, path)
    return PolicyOut(
        org_unit_id=unit_id,
        quota_bytes=own.quota_bytes if own else None,
        retention_days=own.retention_days if own else None,
        effective_retention_days=eff.retention_days,
        retention_from=eff.retention_from,
        quotas_on_path=eff.quotas,
        usage_bytes=await usage_under(session, path),
    )


@policies.get("", response_model=PolicyOut)
async def get_policy(
    unit_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> PolicyOut:
    path = await unit_path(session, unit_id)
    if not path:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    require_admin_over(p, path)
    return await _policy_out(session, settings, unit_id)


@policies.put("", response_model=PolicyOut)
async def put_policy(
    unit_id: int, body: PolicyIn, session: SessionDep, settings: SettingsDep,
    p: CurrentPrincipal,
) -> PolicyOut:
    """Set (or, with nulls, clear) a unit's own quota and retention; admins over the unit."""
    path = await unit_path(session, unit_id)
    if not path:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    require_admin_over(p, path)
    own = await session.get(RecordingPolicy, unit_id)
    if own is None:
        own = RecordingPolicy(org_unit_id=unit_id)
        session.add(own)
    own.quota_bytes, own.retention_days = body.quota_bytes, body.retention_days
    from server.api.common import audit

    audit(session, p, "recording_policy.set", f"org_unit:{unit_id}", body.model_dump())
    await session.flush()
    return await _policy_out(session, settings, unit_id)
