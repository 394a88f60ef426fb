"""GET /api/audit: the audit log for admins, limited to entries under their unit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from server.api.common import paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import Page
from server.audit import visible_audit
from server.db.models import AuditLog
from server.errors import ValidationFailed
from server.policy import require_admin

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    scope_path: str
    created_at: datetime


@router.get("", response_model=Page[AuditPublic])
async def list_audit(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    action: Annotated[
        str | None, Query(max_length=80, description="exact action, or a prefix ending in '.'")
    ] = None,
    actor: Annotated[str | None, Query(max_length=120)] = None,
    target: Annotated[str | None, Query(max_length=120)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> Page[AuditPublic]:
    """Newest first. `action=user.` matches every user action."""
    require_admin(p)
    for bound in (from_, to):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed("from/to must carry a timezone, e.g. 2026-03-02T00:00:00Z")
    query = sa.select(AuditLog).where(visible_audit(p)).order_by(AuditLog.id.desc())
    if action:
        query = query.where(
            AuditLog.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditLog.action == action
        )
    if actor:
        query = query.where(AuditLog.actor == actor)
    if target:
        query = query.where(AuditLog.target == target)
    if from_ is not None:
        query = query.where(AuditLog.created_at >= from_)
    if to is not None:
        query = query.where(AuditLog.created_at < to)
    return await paginate(session, query, paging, AuditPublic)
