"""Small helpers shared by the resource routers: paging, unique-name conflicts, audit."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import Paging
from server.api.schemas import Page
from server.auth import Principal
from server.errors import Conflict

S = TypeVar("S", bound=BaseModel)


async def paginate(
    session: AsyncSession, query: sa.Select[Any], paging: Paging, schema: type[S]
) -> Page[S]:
    """Run `query` for one page and count all its rows (same filters)."""
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = (await session.scalars(query.limit(paging.limit).offset(paging.offset))).all()
    return Page[schema](  # type: ignore[valid-type]
        items=[schema.model_validate(r) for r in rows],
        total=total or 0,
        limit=paging.limit,
        offset=paging.offset,
    )


async def flush_unique(session: AsyncSession, message: str, details: dict[str, Any]) -> None:
    """Flush; a unique constraint violation becomes a 409 (the explicit check lost a race)."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message, details) from exc


async def ensure_absent(
    session: AsyncSession, query: sa.Select[Any], message: str, details: dict[str, Any]
) -> None:
    """409 when `query` finds a row: duplicate names are reported before the insert."""
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict(message, details)


def audit(
    session: AsyncSession,
    p: Principal,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    scope_path: str | None = None,
) -> None:
    """Append to the audit log in the request's transaction (see server.audit).

    `scope_path`: the org path of the target when known (default: the actor's unit),
    so the admins responsible for the target read the entry.
    """
    from server.audit import audit as write

    write(session, p, action, target, details, scope_path=scope_path)
