"""Who may publish a recording how far, and which entries a principal sees.

An entry's `scope_path` is the path of the ancestor unit its visibility names
(the school itself, its county, city or province), or "" for public. Reading
is one prefix test either way round: a user *inside* that unit sees it, and an
admin *above* it (whose scope contains it) sees it too.

Publishing "up to scopes they hold": the unit a visibility names must lie
inside the publisher's own scope (a teacher, whose home unit is the school,
publishes to the school; a county admin up to the county). Public is held only
by principals whose home unit is a root of the tree (the province).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db.models import Lesson, OrgUnit, Role, UnitLevel
from server.db.models_reach import EntryState, LibraryEntry, Visibility
from server.errors import PermissionDenied, ValidationFailed
from server.policy import is_admin_over

LEVEL_OF = {
    Visibility.SCHOOL: UnitLevel.SCHOOL,
    Visibility.COUNTY: UnitLevel.COUNTY,
    Visibility.CITY: UnitLevel.CITY,
    Visibility.PROVINCE: UnitLevel.PROVINCE,
}


async def scope_path_for(session: AsyncSession, school_path: str, visibility: Visibility) -> str:
    """The path of the school's ancestor at the visibility's level ("" for public)."""
    if visibility is Visibility.PUBLIC:
        return ""
    ids = [int(x) for x in school_path.strip("/").split("/") if x]
    rows = await session.execute(
        sa.select(OrgUnit.level, OrgUnit.path).where(OrgUnit.id.in_(ids))
    )
    by_level = {level: path for level, path in rows.tuples().all()}
    path = by_level.get(LEVEL_OF[visibility])
    if path is None:
        raise ValidationFailed(
            "the school has no unit of that level above it",
            {"visibility": visibility.value},
        )
    return path


def holds(p: Principal, scope_path: str, root_paths: set[str]) -> bool:
    """Whether `p` may publish to the unit at `scope_path` ("" = public)."""
    if scope_path == "":
        return p.org_path in root_paths
    return scope_path.startswith(p.org_path)


async def root_paths(session: AsyncSession) -> set[str]:
    rows = await session.scalars(sa.select(OrgUnit.path).where(OrgUnit.parent_id.is_(None)))
    return set(rows.all())


def require_can_publish(p: Principal, lesson: Lesson, school_path: str) -> None:
    """The lesson's teacher, or an admin over its school."""
    if p.user_id is not None and p.user_id == lesson.teacher_id:
        return
    if is_admin_over(p, school_path):
        return
    raise PermissionDenied("only the lesson's teacher or an admin in scope may publish it")


def require_can_unpublish(p: Principal, entry: LibraryEntry) -> None:
    """The publisher, or an admin whose scope contains the school or the entry's reach."""
    if p.user_id is not None and p.user_id == entry.published_by:
        return
    if is_admin_over(p, entry.school_path):
        return
    if p.role is Role.ADMIN and entry.scope_path and entry.scope_path.startswith(p.org_path):
        return
    raise PermissionDenied("only the publisher or an admin in scope may unpublish this entry")


def require_can_attach(p: Principal, entry: LibraryEntry) -> None:
    """Teachers attach resources to their own entries; admins over the school to any."""
    if p.user_id is not None and p.user_id in (entry.teacher_id, entry.published_by):
        return
    if is_admin_over(p, entry.school_path):
        return
    raise PermissionDenied("only the entry's teacher or an admin in scope may attach resources")


def visible_entries(p: Principal) -> sa.ColumnElement[bool]:
    """Published entries whose reach contains the principal or lies inside an admin's scope."""
    reach = sa.or_(
        LibraryEntry.scope_path == "",
        sa.literal(p.org_path).startswith(LibraryEntry.scope_path),
    )
    if p.role is Role.ADMIN:
        reach = sa.or_(reach, LibraryEntry.scope_path.startswith(p.org_path, autoescape=True))
    return sa.and_(LibraryEntry.state == EntryState.PUBLISHED, reach)


def managed_entries(p: Principal) -> sa.ColumnElement[bool]:
    """Entries (also unpublished) the principal manages: own, or of schools in an admin's scope."""
    own = LibraryEntry.published_by == (p.user_id if p.user_id is not None else -1)
    if p.role is Role.ADMIN:
        return sa.or_(own, LibraryEntry.school_path.startswith(p.org_path, autoescape=True))
    return own
