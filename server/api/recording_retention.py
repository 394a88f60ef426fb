"""Retention and storage quota of recordings per org unit, and deleting a recording.

Rules (docs/recording.md, "Retention and quota"):
- a recording belongs to the school of its lesson's main classroom;
- retention: a unit's own `retention_days`, else the nearest ancestor's, else
  `settings.recording.default_retention_days` (None: kept forever). A recording
  older than its school's effective retention is expired;
- quota: a `quota_bytes` set on a unit caps the bytes of every recording under
  it (the unit's subtree shares it); a unit below that sets its own quota adds
  its own, tighter or looser, cap for its subtree. A recording must fit under
  every quota on its path.
Enforcement: at recording finish an excess only flags the recording
(`over_quota`; the lesson is never affected); `tongbu recording prune` deletes
expired recordings, then the oldest ones under each unit over its quota.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import audit
from server.db.models import Classroom, Lesson, OrgUnit, Recording, RecordingState, utcnow
from server.db.models_recording import RecordingPolicy
from server.settings import Settings

log = structlog.get_logger(__name__)


def path_ids(path: str) -> list[int]:
    """"/1/4/9/" → [1, 4, 9] (root first)."""
    return [int(x) for x in path.strip("/").split("/") if x]


@dataclass(frozen=True)
class EffectivePolicy:
    unit_id: int
    retention_days: int | None
    retention_from: int | None  # unit that set it (None: the setting's default)
    quotas: dict[int, int]  # every quota on the path: unit id → bytes


async def effective_policy(session: AsyncSession, settings: Settings, path: str) -> EffectivePolicy:
    ids = path_ids(path)
    rows = {
        r.org_unit_id: r
        for r in (
            await session.scalars(
                sa.select(RecordingPolicy).where(RecordingPolicy.org_unit_id.in_(ids))
            )
        ).all()
    }
    retention, source = settings.recording.default_retention_days, None
    for uid in reversed(ids):  # nearest first
        row = rows.get(uid)
        if row is not None and row.retention_days is not None:
            retention, source = row.retention_days, uid
            break
    quotas = {uid: r.quota_bytes for uid, r in rows.items() if r.quota_bytes is not None}
    return EffectivePolicy(ids[-1] if ids else 0, retention, source, quotas)


def _school_path() -> sa.Select[Any]:
    """(recording id, school path) for every recording."""
    return (
        sa.select(Recording.id, OrgUnit.path)
        .join(Lesson, Lesson.id == Recording.lesson_id)
        .join(Classroom, Classroom.id == Lesson.main_classroom_id)
        .join(OrgUnit, OrgUnit.id == Classroom.school_id)
    )


async def recording_path(session: AsyncSession, recording_id: int) -> str:
    path = (await session.execute(_school_path().where(Recording.id == recording_id))).first()
    return str(path[1]) if path else "/"


async def usage_under(session: AsyncSession, path: str) -> int:
    """Bytes of every recording whose school lies under `path`."""
    sub = _school_path().subquery()
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Recording.size_bytes), 0))
        .join(sub, sub.c.id == Recording.id)
        .where(sub.c.path.startswith(path, autoescape=True))
    )
    return int(total or 0)


async def unit_path(session: AsyncSession, unit_id: int) -> str:
    return str(await session.scalar(sa.select(OrgUnit.path).where(OrgUnit.id == unit_id)) or "")


async def quota_excess(
    session: AsyncSession, settings: Settings, rec: Recording
) -> dict[str, Any] | None:
    """The first quota on the recording's path that its unit's usage exceeds, if any."""
    path = await recording_path(session, rec.id)
    policy = await effective_policy(session, settings, path)
    for uid in path_ids(path):
        quota = policy.quotas.get(uid)
        if quota is None:
            continue
        used = await usage_under(session, await unit_path(session, uid))
        if used > quota:
            return {"unit": uid, "quota": quota, "used": used, "over": used - quota}
    return None


# --- deleting -----------------------------------------------------------------------------


def _storage(settings: Settings) -> Any:
    """The object storage when one is configured (S3), else None (files are local only)."""
    from recorder.cli import RecorderSettings, make_storage

    rs = RecorderSettings()
    return make_storage(settings, rs) if rs.s3_bucket else None


async def delete_files(settings: Settings, key: str) -> int:
    """Remove a recording's files: the local directory and, if configured, its objects."""
    from recorder.storage import validate_key

    assert settings.storage_dir is not None
    local = settings.storage_dir / validate_key(key)
    removed = 0
    if local.is_dir():
        removed += sum(1 for p in local.rglob("*") if p.is_file())
        await asyncio.to_thread(shutil.rmtree, local)
    storage = _storage(settings)
    if storage is not None:
        for obj in await storage.list(f"{key}/"):
            await storage.delete(obj)
            removed += 1
    return removed


async def delete_recording(
    session: AsyncSession,
    settings: Settings,
    rec: Recording,
    actor: str,
    reason: str,
    scope_path: str = "",
) -> int:
    """Files first, then the row and an audit entry in the caller's transaction."""
    removed = await delete_files(settings, rec.storage_key)
    details = {
        "recording_id": rec.id,
        "lesson_id": rec.lesson_id,
        "storage_key": rec.storage_key,
        "size_bytes": rec.size_bytes,
        "files": removed,
        "reason": reason,
    }
    audit(session, None, "recording.deleted", f"recording:{rec.id}", details,
          scope_path=scope_path, actor=actor)
    await session.delete(rec)
    await session.flush()
    log.info("recording deleted", **details)
    return removed


# --- pruning ------------------------------------------------------------------------------


@dataclass
class PrunePlan:
    expired: list[Recording]
    over_quota: list[Recording]

    @property
    def all(self) -> list[Recording]:
        return [*self.expired, *self.over_quota]


async def plan_prune(session: AsyncSession, settings: Settings) -> PrunePlan:
    """What `prune` would delete: expired recordings, then oldest-first until under quota."""
    finished = [RecordingState.READY, RecordingState.FAILED]
    rows = (
        await session.execute(_school_path().where(Recording.state.in_(finished)))
    ).tuples().all()
    paths = dict(rows)
    recs = {
        r.id: r
        for r in (
            await session.scalars(sa.select(Recording).where(Recording.id.in_(list(paths))))
        ).all()
    }
    now = utcnow()
    expired: list[Recording] = []
    cache: dict[str, EffectivePolicy] = {}
    for rid, path in paths.items():
        if path not in cache:
            cache[path] = await effective_policy(session, settings, path)
        days = cache[path].retention_days
        rec = recs[rid]
        born = rec.ended_at or rec.started_at or rec.created_at
        if days is not None and born < now - timedelta(days=days):
            expired.append(rec)
    gone = {r.id for r in expired}
    over: list[Recording] = []
    quotas = (
        await session.execute(
            sa.select(RecordingPolicy.org_unit_id, RecordingPolicy.quota_bytes, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == RecordingPolicy.org_unit_id)
            .where(RecordingPolicy.quota_bytes.is_not(None))
            .order_by(sa.func.length(OrgUnit.path).desc())  # schools before counties
        )
    ).tuples().all()
    for _uid, quota, upath in quotas:
        under = sorted(
            (recs[rid] for rid, p in paths.items() if p.startswith(upath) and rid not in gone),
            key=lambda r: r.started_at or r.created_at,
        )
        used = sum(r.size_bytes for r in under) + sum(
            r.size_bytes
            for r in (
                await session.scalars(
                    sa.select(Recording).where(
                        Recording.id.not_in(list(paths)),
                        Recording.id.in_(
                            _school_path()
                            .where(OrgUnit.path.startswith(upath, autoescape=True))
                            .with_only_columns(Recording.id)
                        ),
                    )
                )
            ).all()
        )  # recordings still being made count, but are never pruned
        for rec in under:
            if used <= (quota or 0):
                break
            over.append(rec)
            gone.add(rec.id)
            used -= rec.size_bytes
    return PrunePlan(expired, over)


async def prune(
    session: AsyncSession,
    settings: Settings,
    *,
    dry_run: bool = False,
    on_step: Callable[[Recording, str], None] | None = None,
) -> PrunePlan:
    plan = await plan_prune(session, settings)
    if dry_run:
        return plan
    for reasons, recs in (("retention", plan.expired), ("quota", plan.over_quota)):
        for rec in recs:
            await delete_recording(session, settings, rec, "system:prune", reasons)
            if on_step is not None:
                on_step(rec, reasons)
    return plan
