"""Which courseware a room may show, and who may see a document over REST.

Rooms are named after what they host: `lesson-<id>`, `research-<id>`,
`meeting-<id>`. A document may be shown in a room when it is attached to that
lesson, session or meeting, or to the course of that lesson or session.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Principal
from server.db.models import Course, Lesson, Role
from server.db.models_collab import CoursewareDocument, Meeting, ResearchSession
from server.errors import NotFound, PermissionDenied
from server.policy import get_visible_lesson, unit_path

_ROOM = re.compile(r"^(lesson|research|meeting)-(\d+)$")


def parse_room(room: str) -> tuple[str, int] | None:
    match = _ROOM.match(room)
    return (match.group(1), int(match.group(2))) if match else None


async def document_for_room(
    session: AsyncSession, room: str, document_id: int
) -> CoursewareDocument:
    """The document if this room may show it: NotFound (unknown) or PermissionDenied."""
    doc = await session.get(CoursewareDocument, document_id)
    if doc is None:
        raise NotFound(f"no courseware document {document_id}")
    parsed = parse_room(room)
    if parsed is None:
        raise PermissionDenied("this room shows no courseware")
    kind, owner_id = parsed
    if kind == "lesson":
        lesson = await session.get(Lesson, owner_id)
        course_id = lesson.course_id if lesson else None
        if doc.lesson_id == owner_id or (course_id is not None and doc.course_id == course_id):
            return doc
    elif kind == "research":
        research = await session.get(ResearchSession, owner_id)
        course_id = research.course_id if research else None
        if doc.session_id == owner_id or (course_id is not None and doc.course_id == course_id):
            return doc
    elif doc.meeting_id == owner_id:
        return doc
    raise PermissionDenied("that document is not attached to this room's lesson, course or session")


async def require_can_read(session: AsyncSession, p: Principal, doc: CoursewareDocument) -> None:
    """Read a document over REST: whoever may see what it is attached to."""
    if doc.lesson_id is not None:
        await get_visible_lesson(session, p, doc.lesson_id)
        return
    if doc.course_id is not None:
        from server.api.research import require_course_member

        course = await session.get(Course, doc.course_id)
        if course is None:
            raise NotFound("course not found", {"course_id": doc.course_id})
        await require_course_member(session, p, course)
        return
    if doc.session_id is not None:
        from server.api.research import get_visible_session

        await get_visible_session(session, p, doc.session_id)
        return
    if doc.meeting_id is not None:
        from server.api.meetings import get_visible_meeting

        await get_visible_meeting(session, p, doc.meeting_id)
        return
    raise PermissionDenied("document has no owner")


async def require_can_upload(
    session: AsyncSession,
    p: Principal,
    *,
    lesson_id: int | None,
    course_id: int | None,
    session_id: int | None,
    meeting_id: int | None,
) -> None:
    """Upload: a lesson's teacher (or an admin over it); a member of a course, session, meeting."""
    if p.role is Role.CLASSROOM or p.user_id is None:
        raise PermissionDenied("classroom devices do not upload courseware")
    if lesson_id is not None:
        from server.policy import lesson_places, require_can_run_lesson

        lesson = await get_visible_lesson(session, p, lesson_id)
        require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
        return
    if course_id is not None:
        from server.api.research import require_course_member

        course = await session.get(Course, course_id)
        if course is None:
            raise NotFound("course not found", {"course_id": course_id})
        await require_course_member(session, p, course)
        if p.role not in (Role.TEACHER, Role.RESEARCHER, Role.ADMIN):
            raise PermissionDenied("only teachers and admins upload course courseware")
        return
    if session_id is not None:
        from server.api.research import get_visible_session

        await get_visible_session(session, p, session_id)
        return
    if meeting_id is not None:
        from server.api.meetings import get_visible_meeting

        meeting = await get_visible_meeting(session, p, meeting_id)
        if meeting.host_id != p.user_id and not (
            p.role is Role.ADMIN and (await unit_path(session, meeting.org_unit_id)).startswith(
                p.org_path
            )
        ):
            raise PermissionDenied("only the host shares documents in a meeting")
        return
    raise PermissionDenied("nothing to attach to")


async def documents_of(session: AsyncSession, **owner: int) -> list[CoursewareDocument]:
    key, value = next(iter(owner.items()))
    column = getattr(CoursewareDocument, key)
    rows = await session.scalars(
        sa.select(CoursewareDocument).where(column == value).order_by(CoursewareDocument.id)
    )
    return list(rows.all())


__all__ = ["Meeting", "document_for_room", "documents_of", "parse_room", "require_can_read"]
