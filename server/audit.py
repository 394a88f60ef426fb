"""The audit log: one helper every path writes through, and the scope rule to read it.

Why the scope path: an audit entry must be readable by the admins responsible
for where it happened (a county admin sees the county's logins, deletions and
exports, the province sees everything). Each entry stores the org path it
belongs to — the target's unit when the caller knows it, else the actor's unit.
Entries with no unit (a failed login with an unknown name) are stored with an
empty path and shown only to admins of a root unit.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db.engine import Database
from server.db.models import AuditLog, OrgUnit, Role, User

log = structlog.get_logger("tongbu.audit")


def audit(
    session: AsyncSession,
    p: Principal | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    *,
    scope_path: str | None = None,
    actor: str | None = None,
) -> AuditLog:
    """Append to the audit log in the caller's transaction (kept only if the change is)."""
    entry = AuditLog(
        actor=actor or (p.identity if p is not None else "anonymous"),
        action=action,
        target=target,
        details=details or {},
        scope_path=scope_path if scope_path is not None else (p.org_path if p else ""),
    )
    session.add(entry)
    log.info("audit", action=action, actor=entry.actor, target=target)
    return entry


async def audit_now(
    db: Database,
    action: str,
    *,
    actor: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    scope_path: str = "",
) -> None:
    """Write an entry in a transaction of its own: for refusals, whose request rolls back."""
    async with db.session() as session:
        audit(session, None, action, target, details, scope_path=scope_path, actor=actor)


async def login_scope(db: Database, login: str) -> tuple[str, str]:
    """(actor, scope path) of a login name, for entries about a failed login."""
    async with db.session() as session:
        row = (
            await session.execute(
                sa.select(User.id, OrgUnit.path)
                .join(OrgUnit, OrgUnit.id == User.org_unit_id)
                .where(User.login == login)
            )
        ).first()
    if row is None:
        return "anonymous", ""
    return f"user-{row.id}", row.path


def visible_audit(p: Principal) -> sa.ColumnElement[bool]:
    """Admins read the entries under their unit; root admins also the unit-less ones."""
    if p.role is not Role.ADMIN:
        return sa.false()
    under = AuditLog.scope_path.startswith(p.org_path, autoescape=True)
    if p.org_path.count("/") == 2:  # "/1/": a root unit (the province)
        return sa.or_(under, AuditLog.scope_path == "")
    return under
