"""Tables of courseware (课件同步), 同步教研 research sessions and notes, 同步视讯 meetings.

Research sessions and meetings are not lessons: they have no main classroom
and no receiving classrooms, their people are invited by user or by unit, and
their rooms are `research-<id>` / `meeting-<id>`. Courseware belongs to exactly
one of a lesson, a course, a research session or a meeting (a CHECK says so).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, str_enum, utcnow


class SourceKind(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    ENDED = "ended"


class Convened:
    """Columns of a convened session (research or meeting): a host, the host's unit when
    created (admins over it see and manage the session), a time window and a state."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    host_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    state: Mapped[SessionState] = mapped_column(
        str_enum(SessionState), default=SessionState.SCHEDULED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite:
    """One invitation of a convened session: a user, or a unit (everyone under it)."""

    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (org_unit_id IS NULL)", name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="CASCADE")
    )


class ResearchSession(Convened, Base):
    """A 同步教研 session: teachers of several schools meet; everyone may publish."""

    __tablename__ = "research_session"

    course_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("course.id", ondelete="SET NULL"), index=True
    )


class ResearchInvite(Invite, Base):
    """One invited teacher (`user_id`) or school/unit (`org_unit_id`, everyone under it)."""

    __tablename__ = "research_invite"

    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("research_session.id", ondelete="CASCADE"), index=True
    )


class CourseNote(Base):
    """A note of teaching research attached to a course (optionally taken in a session)."""

    __tablename__ = "course_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(
        sa.ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("research_session.id", ondelete="SET NULL")
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Meeting(Convened, Base):
    """A 同步视讯 meeting (county/school video conference) with a host who grants the floor."""

    __tablename__ = "meeting"


class MeetingInvite(Invite, Base):
    """One invited user, or a unit (every user and classroom device under it)."""

    __tablename__ = "meeting_invite"

    meeting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("meeting.id", ondelete="CASCADE"), index=True
    )


class CoursewareDocument(Base):
    """An uploaded PDF or image, rendered into `page_count` JPEG pages (`pages`: sizes)."""

    __tablename__ = "courseware_document"
    __table_args__ = (
        sa.CheckConstraint(
            "(CASE WHEN lesson_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN course_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN session_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN meeting_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    filename: Mapped[str] = mapped_column(sa.String(200))
    source_kind: Mapped[SourceKind] = mapped_column(str_enum(SourceKind))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    page_count: Mapped[int] = mapped_column()
    # [{"width": px, "height": px}] per page, 1-based by position.
    pages: Mapped[list[Any]] = mapped_column(default=list)
    lesson_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("research_session.id", ondelete="CASCADE"), index=True
    )
    meeting_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("meeting.id", ondelete="CASCADE"), index=True
    )
    uploaded_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
