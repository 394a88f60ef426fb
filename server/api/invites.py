"""What research sessions (同步教研) and meetings (同步视讯) share: invites, scope, room tokens.

Both are convened by a host, invite people by user or by unit (a school: all
its teachers; a county: everyone under it), and open a room of their own
(`research-<id>`, `meeting-<id>`). Who may be invited: people and units inside
the host's county (a school teacher convenes teachers of the neighbouring
schools), or inside an admin's own scope when the admin sits above a county.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.lessons import ws_url
from server.auth import Principal
from server.db.models import OrgUnit, Role, UnitLevel, User, utcnow
from server.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from server.settings import Settings
from server.tokens import RoomRole, issue_room_token

# A host may open the room this long before the start (as for lessons).
EARLY_JOIN = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=12)
Ids = Annotated[list[int], Field(max_length=200)]


class InviteFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: datetime
    ends_at: datetime
    invite_user_ids: Ids = Field(default_factory=list)
    invite_unit_ids: Ids = Field(default_factory=list)

    @model_validator(mode="after")
    def _times(self) -> InviteFields:
        for t in (self.starts_at, self.ends_at):
            if t.tzinfo is None:
                raise ValueError("times must carry a timezone, e.g. 2026-03-02T00:30:00Z")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_DURATION:
            raise ValueError("at most 12 hours")
        return self


class RoomJoin(BaseModel):
    """The answer of the join endpoints: like a lesson's, with the room kind."""

    token: str
    room: str
    ws_url: str
    ice_servers: list[dict[str, Any]]
    role: RoomRole
    kind: str
    identity: str


@dataclass(frozen=True)
class Invites:
    user_ids: list[int]
    unit_ids: list[int]


async def invite_scope(session: AsyncSession, p: Principal) -> str:
    """The path inside which `p` may invite: the county above p's unit, or p's own scope."""
    ids = [int(x) for x in p.org_path.strip("/").split("/") if x]
    rows = await session.execute(sa.select(OrgUnit.level, OrgUnit.path).where(OrgUnit.id.in_(ids)))
    by_level = dict(rows.tuples().all())
    county = by_level.get(UnitLevel.COUNTY)
    if county is not None and len(county) < len(p.org_path):
        return county
    return p.org_path


async def check_invites(session: AsyncSession, p: Principal, invites: Invites) -> None:
    """Invited users are active people (not devices), units exist; all inside the scope."""
    scope = await invite_scope(session, p)
    if len(set(invites.user_ids)) != len(invites.user_ids) or len(set(invites.unit_ids)) != len(
        invites.unit_ids
    ):
        raise ValidationFailed("an invite is listed twice")
    if invites.user_ids:
        rows = await session.execute(
            sa.select(User.id, User.role, User.is_active, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(User.id.in_(invites.user_ids))
        )
        found = {uid: (role, active, path) for uid, role, active, path in rows.tuples().all()}
        missing = sorted(set(invites.user_ids) - set(found))
        bad = sorted(
            uid for uid, (role, active, _) in found.items()
            if role is Role.CLASSROOM or not active
        )
        if missing or bad:
            raise ValidationFailed(
                "invited users must be active people", {"unknown": missing, "invalid": bad}
            )
        outside = sorted(uid for uid, (_, _, path) in found.items() if not path.startswith(scope))
        if outside:
            raise PermissionDenied("invited users outside your scope", {"user_ids": outside})
    if invites.unit_ids:
        rows2 = await session.execute(
            sa.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(invites.unit_ids))
        )
        paths = dict(rows2.tuples().all())
        missing = sorted(set(invites.unit_ids) - set(paths))
        if missing:
            raise ValidationFailed("invited units not found", {"unknown": missing})
        outside = sorted(uid for uid, path in paths.items() if not path.startswith(scope))
        if outside:
            raise PermissionDenied("invited units outside your scope", {"org_unit_ids": outside})


def invited_clause(
    p: Principal, parent_col: Any, user_col: Any, unit_col: Any
) -> sa.Select[Any]:
    """Ids of sessions/meetings that invite `p`: by user, or a unit containing p's unit."""
    by_unit = (
        sa.select(parent_col)
        .join(OrgUnit, OrgUnit.id == unit_col)
        .where(sa.literal(p.org_path).startswith(OrgUnit.path))
    )
    if p.user_id is None:
        return by_unit
    return sa.union(sa.select(parent_col).where(user_col == p.user_id), by_unit)  # type: ignore[return-value]


def visible_convened(
    p: Principal, entity: Any, invite: Any, invite_fk: Any
) -> sa.ColumnElement[bool]:
    """Who sees a convened session (research or meeting): its host, whoever is invited (by
    user or by a unit containing theirs), and admins of the unit it belongs to or above."""
    invited = invited_clause(p, invite_fk, invite.user_id, invite.org_unit_id)
    clauses: list[sa.ColumnElement[bool]] = [entity.id.in_(invited)]
    if p.user_id is not None:
        clauses.append(entity.host_id == p.user_id)
    if p.role is Role.ADMIN:
        under = sa.select(OrgUnit.id).where(OrgUnit.path.startswith(p.org_path, autoescape=True))
        clauses.append(entity.org_unit_id.in_(under))
    return sa.or_(*clauses)


async def get_visible_convened(
    session: AsyncSession, p: Principal, entity: Any, key: str, ident: int, what: str,
    visible: sa.ColumnElement[bool],
) -> Any:
    """The session/meeting `ident` (404) if `p` may see it (403), by the `visible` rule."""
    row = await session.get(entity, ident)
    if row is None:
        raise NotFound(f"{what} not found", {key: ident})
    seen = await session.scalar(
        sa.select(sa.func.count()).select_from(entity).where(entity.id == ident, visible)
    )
    if not seen:
        raise PermissionDenied(f"{what} is outside your scope", {key: ident})
    return row


def require_can_convene(p: Principal, what: str) -> None:
    if p.role not in (Role.TEACHER, Role.RESEARCHER, Role.ADMIN) or p.user_id is None:
        raise PermissionDenied(f"only teachers, researchers and admins convene a {what}")


def require_joinable(starts_at: datetime, ends_at: datetime, ended: bool, what: str) -> None:
    now = utcnow()
    if ended or now >= ends_at:
        raise InvalidState(f"the {what} has ended", {"ends_at": ends_at.isoformat()})
    if now < starts_at - EARLY_JOIN:
        raise InvalidState(
            f"too early to join the {what}",
            {"starts_at": starts_at.isoformat(), "earliest": (starts_at - EARLY_JOIN).isoformat()},
        )


def room_join(
    settings: Settings,
    request: Request,
    p: Principal,
    *,
    room: str,
    role: RoomRole,
    kind: str,
) -> RoomJoin:
    token = issue_room_token(
        settings.ensure_secret(),
        room=room,
        identity=p.identity,
        role=role,
        ttl=settings.auth.room_token_ttl,
        name=p.name,
        classroom_id=p.classroom_id,
        user_id=p.user_id,
        kind=kind,  # type: ignore[arg-type]
    )
    return RoomJoin(
        token=token,
        room=room,
        ws_url=ws_url(settings, request),
        ice_servers=[s.model_dump(exclude_none=True) for s in settings.media.ice_servers],
        role=role,
        kind=kind,
        identity=p.identity,
    )
