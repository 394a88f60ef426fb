"""REST: start, list, inspect and stop broadcasts (`/api/broadcasts`).

Who: a live lesson is sent by its teacher or an admin over its main
classroom; a library recording by an admin who can see the entry. The target
URL is checked (scheme, host, port) before anything starts; the stream key is
never echoed back (`target` is redacted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field, model_validator

from server.api.deps import CurrentPrincipal, SessionDep, SettingsDep
from server.api.schemas import Input
from server.auth import Principal
from server.broadcast.manager import BroadcastJob, BroadcastManager, get_manager
from server.broadcast.target import parse_target
from server.db.models import LessonState, Role
from server.db.models_reach import EntryState, LibraryEntry
from server.errors import InvalidState, NotFound, PermissionDenied
from server.library import scope as library_scope
from server.policy import get_visible_lesson, is_admin_over, lesson_places, require_can_run_lesson

router = APIRouter(prefix="/api/broadcasts", tags=["broadcast"])
ManagerDep = Annotated[BroadcastManager, Depends(get_manager)]


class BroadcastStart(Input):
    lesson_id: int | None = None
    library_entry_id: int | None = None
    to: str = Field(min_length=1, max_length=1000)
    width: int = Field(default=1280, ge=64, le=3840, multiple_of=2)
    height: int = Field(default=720, ge=64, le=2160, multiple_of=2)
    fps: int = Field(default=25, ge=5, le=60)
    bitrate_kbps: int = Field(default=2500, ge=100, le=20000)
    loop: bool = False
    max_retries: int = Field(default=10, ge=0, le=1000)
    retry_delay: float = Field(default=1.0, ge=0.01, le=60)

    @model_validator(mode="after")
    def _one_source(self) -> BroadcastStart:
        if (self.lesson_id is None) == (self.library_entry_id is None):
            raise ValueError("give exactly one of lesson_id or library_entry_id")
        return self


class BroadcastPublic(BaseModel):
    id: int
    source: str
    target: str
    state: str
    frames: int
    bitrate_kbps: float
    out_time_s: float
    speed: float
    reconnects: int
    last_error: str | None
    inputs: dict[str, int]
    started_by: str
    created_at: datetime


def _public(job: BroadcastJob) -> BroadcastPublic:
    s = job.status
    return BroadcastPublic(
        id=job.id, source=job.source, target=s.target, state=s.state, frames=s.frames,
        bitrate_kbps=s.bitrate_kbps, out_time_s=s.out_time_s, speed=s.speed,
        reconnects=s.reconnects, last_error=s.last_error, inputs=s.inputs,
        started_by=job.started_by, created_at=datetime.fromtimestamp(job.created_at, UTC),
    )


def _can_see(p: Principal, job: BroadcastJob) -> bool:
    return job.started_by == p.identity or is_admin_over(p, job.scope_path)


def _job(manager: BroadcastManager, p: Principal, broadcast_id: int) -> BroadcastJob:
    job = manager.jobs.get(broadcast_id)
    if job is None:
        raise NotFound("broadcast not found", {"broadcast_id": broadcast_id})
    if not _can_see(p, job):
        raise PermissionDenied("broadcast is outside your scope", {"broadcast_id": broadcast_id})
    return job


@router.post("", response_model=BroadcastPublic, status_code=status.HTTP_201_CREATED)
async def start(
    body: BroadcastStart, request: Request, session: SessionDep, settings: SettingsDep,
    p: CurrentPrincipal, manager: ManagerDep,
) -> BroadcastPublic:
    target = parse_target(body.to)
    common = ["--to", body.to, "--retries", str(body.max_retries),
              "--retry-delay", str(body.retry_delay)]
    env: dict[str, str] = {}
    if body.lesson_id is not None:
        from server.api.lessons import room_name, ws_url
        from server.tokens import RoomRole, issue_room_token

        lesson = await get_visible_lesson(session, p, body.lesson_id)
        places = await lesson_places(session, lesson)
        require_can_run_lesson(p, lesson, places)
        if lesson.state in (LessonState.ENDED, LessonState.CANCELLED):
            raise InvalidState("the lesson is over", {"state": lesson.state.value})
        env["TONGBU_BROADCAST_TOKEN"] = issue_room_token(
            settings.ensure_secret(), room=room_name(lesson.id),
            identity=f"broadcast-{lesson.id}", role=RoomRole.RECORDER,
            ttl=settings.auth.room_token_ttl, name="broadcast")
        args = [str(lesson.id), *common, "--url", ws_url(settings, request),
                "--size", f"{body.width}x{body.height}", "--fps", str(body.fps),
                "--bitrate", str(body.bitrate_kbps)]
        source, scope_path = f"lesson:{lesson.id}", places.main_path
    else:
        entry = await session.get(LibraryEntry, body.library_entry_id)
        if entry is None or entry.state is not EntryState.PUBLISHED:
            raise NotFound("library entry not found", {"entry_id": body.library_entry_id})
        if p.role is not Role.ADMIN:
            raise PermissionDenied("only admins play library recordings out to TV")
        try:
            library_scope.require_can_unpublish(p, entry)
        except PermissionDenied as exc:
            raise PermissionDenied("the library entry is outside your scope") from exc
        assert settings.storage_dir is not None
        path = settings.storage_dir / entry.mp4_key
        if not path.is_file():
            raise NotFound("the recording's MP4 is missing", {"entry_id": entry.id})
        args = ["--file", str(path), *common, *(["--loop"] if body.loop else [])]
        source, scope_path = f"library:{entry.id}", entry.school_path
    job = await manager.start(args, source=source, target=target.redacted,
                              started_by=p.identity, scope_path=scope_path, env=env)
    return _public(job)


@router.get("", response_model=list[BroadcastPublic])
async def list_broadcasts(p: CurrentPrincipal, manager: ManagerDep) -> list[BroadcastPublic]:
    return [_public(j) for j in manager.jobs.values() if _can_see(p, j)]


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
async def get_broadcast(broadcast_id: int, p: CurrentPrincipal,
                        manager: ManagerDep) -> BroadcastPublic:
    return _public(_job(manager, p, broadcast_id))


@router.post("/{broadcast_id}/stop", response_model=BroadcastPublic)
async def stop(broadcast_id: int, p: CurrentPrincipal, manager: ManagerDep) -> Any:
    job = await manager.stop(_job(manager, p, broadcast_id))
    return _public(job)
