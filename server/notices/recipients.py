"""Who a lesson concerns: its teacher, the schools of its classrooms, admins in scope.

A "school" is told through the people whose home unit is that school (its
teachers, researchers, school admins) and through the school's own contact
address, if it has one (`notice_contact` with `org_unit_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Classroom, Lesson, OrgUnit, Role, User
from server.db.models_reach import NoticeContact

PEOPLE_ROLES = (Role.ADMIN, Role.TEACHER, Role.RESEARCHER)


@dataclass
class Audience:
    """User ids (with the school each is told about, None for the teacher) and e-mails."""

    users: dict[int, int | None] = field(default_factory=dict)
    # address → (user id or None for a school office, school id or None)
    emails: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    schools: list[int] = field(default_factory=list)
    school_of: dict[int, int] = field(default_factory=dict)  # classroom id → school id


async def school_of(session: AsyncSession, classroom_ids: list[int]) -> dict[int, int]:
    """Classroom id → its school's id."""
    rows = await session.execute(
        sa.select(Classroom.id, Classroom.school_id).where(Classroom.id.in_(classroom_ids))
    )
    return dict(rows.tuples().all())


async def audience_for(
    session: AsyncSession, lessons: list[Lesson], extra_classrooms: list[int] | None = None
) -> Audience:
    """Everyone the lessons concern (teachers + people and offices of every school)."""
    out = Audience()
    classroom_ids = sorted(
        {c for x in lessons for c in (x.main_classroom_id, *x.receiving_classroom_ids)}
        | set(extra_classrooms or [])
    )
    out.school_of = await school_of(session, classroom_ids)
    out.schools = sorted(set(out.school_of.values()))
    for lesson in lessons:
        out.users.setdefault(lesson.teacher_id, None)
    people = await session.execute(
        sa.select(User.id, User.org_unit_id).where(
            User.org_unit_id.in_(out.schools), User.is_active.is_(True),
            User.role.in_(PEOPLE_ROLES),
        )
    )
    for user_id, school_id in people.tuples().all():
        out.users.setdefault(user_id, school_id)
    contacts = await session.execute(
        sa.select(NoticeContact.email, NoticeContact.user_id, NoticeContact.org_unit_id).where(
            sa.or_(NoticeContact.user_id.in_(list(out.users)),
                   NoticeContact.org_unit_id.in_(out.schools))
        )
    )
    for email, contact_user, unit_id in contacts.tuples().all():
        school = unit_id if contact_user is None else out.users.get(contact_user)
        out.emails.setdefault(email, (contact_user, school))
    return out


async def admins_over(session: AsyncSession, path: str) -> list[int]:
    """Active admins whose scope contains `path` (the nearest first)."""
    prefixes = []
    parts = [x for x in path.strip("/").split("/") if x]
    for i in range(len(parts), 0, -1):
        prefixes.append("/" + "/".join(parts[:i]) + "/")
    rows = await session.execute(
        sa.select(User.id, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), OrgUnit.path.in_(prefixes))
    )
    found = rows.tuples().all()
    return [uid for uid, _ in sorted(found, key=lambda r: -len(r[1]))]
