"""Tables of issue 9, "reach every school": lesson library, timetable notices, calendar feeds.

Kept apart from server/db/models.py (registered in server/db/tables.py) so the
feature's schema reads as one piece. Two columns it needs on an existing table
(`lesson.language`, `lesson.short_notice`) are in models.py with the others.

Search: `library_entry.search_text` holds the title, tags, subject, grade,
teacher and description *pre-tokenised* for PostgreSQL's 'simple' text search
configuration (CJK runs expanded into unigrams and overlapping bigrams, see
server/library/search.py). The GIN index
is over the stored `search_vector` column (tsvector on PostgreSQL, an empty text on
SQLite, where the fallback searches `search_text` with LIKE instead).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, TeachingLanguage, str_enum, utcnow

__all__ = ["TeachingLanguage"]


class Visibility(StrEnum):
    """How far a published library entry reaches, narrowest first."""

    SCHOOL = "school"
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    PUBLIC = "public"


class EntryState(StrEnum):
    PROCESSING = "processing"  # exporting MP4/HLS and the thumbnail in the background
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    FAILED = "failed"  # the export failed; `error` says why


class ResourceKind(StrEnum):
    COURSEWARE = "courseware"  # 课件 (PDF)
    GUIDE = "guide"  # 导学案 (PDF / Word)
    MICROLESSON = "microlesson"  # 微课 (short MP4)


class NoticeKind(StrEnum):
    TIMETABLE_PUBLISHED = "timetable_published"
    LESSON_CREATED = "lesson_created"
    LESSON_CHANGED = "lesson_changed"
    LESSON_CANCELLED = "lesson_cancelled"
    SHORT_NOTICE = "short_notice"


class MailState(StrEnum):
    PENDING = "pending"
    SENT = "sent"


class FeedKind(StrEnum):
    TEACHER = "teacher"
    CLASSROOM = "classroom"


class LibraryEntry(Base):
    """A recording published to the lesson library (名校网络课堂)."""

    __tablename__ = "library_entry"
    __table_args__ = (
        sa.Index("ix_library_entry_scope", "state", "scope_path"),
        sa.Index("ix_library_entry_fts", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        sa.ForeignKey("recording.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("lesson.id", ondelete="CASCADE"))
    # The school the lesson was taught in (its main classroom's) and that school's path.
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id", ondelete="RESTRICT"))
    school_path: Mapped[str] = mapped_column(sa.String(400))
    visibility: Mapped[Visibility] = mapped_column(str_enum(Visibility))
    # Path of the unit the entry is visible under ("" = public): one prefix test decides.
    scope_path: Mapped[str] = mapped_column(sa.String(400))
    published_by: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    teacher_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    teacher_name: Mapped[str] = mapped_column(sa.String(200), default="")
    title: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(80), default="", index=True)
    grade: Mapped[str] = mapped_column(sa.String(40), default="", index=True)
    language: Mapped[TeachingLanguage] = mapped_column(
        str_enum(TeachingLanguage), default=TeachingLanguage.ZH, index=True
    )
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # "|分数|三年级|": exact tag filters with one LIKE on both databases.
    tags_text: Mapped[str] = mapped_column(sa.String(1000), default="|")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    # PostgreSQL: to_tsvector('simple', search_text), set by server/library/search.py and
    # GIN-indexed; SQLite keeps it empty (the fallback searches with LIKE).
    search_vector: Mapped[str] = mapped_column(
        sa.Text().with_variant(TSVECTOR(), "postgresql"), default="", deferred=True
    )
    state: Mapped[EntryState] = mapped_column(str_enum(EntryState), default=EntryState.PUBLISHED)
    # Storage keys (relative to settings.storage_dir) of the playable media.
    hls_key: Mapped[str] = mapped_column(sa.String(400), default="")
    mp4_key: Mapped[str] = mapped_column(sa.String(400), default="")
    thumbnail_key: Mapped[str] = mapped_column(sa.String(400), default="")
    duration_s: Mapped[float] = mapped_column(default=0.0)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    views: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    unpublished_at: Mapped[datetime | None] = mapped_column()
    unpublished_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )


class LibraryResource(Base):
    """A file a teacher attached to an entry: 课件, 导学案, 微课."""

    __tablename__ = "library_resource"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("library_entry.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ResourceKind] = mapped_column(str_enum(ResourceKind))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(400))
    uploaded_by: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """One in-app notice for one user (fanned out at creation, so read state is per user)."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    lesson_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="SET NULL")
    )
    school_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="SET NULL")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeContact(Base):
    """An e-mail address for notices: of a user, or of a school (its office)."""

    __tablename__ = "notice_contact"
    __table_args__ = (
        sa.UniqueConstraint("user_id"),
        sa.UniqueConstraint("org_unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE")
    )
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(sa.String(254))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailOutbox(Base):
    """An e-mail to send. Written in the same transaction as the change it reports, so it
    is never lost; the mailer deletes nothing and retries with backoff until SMTP accepts."""

    __tablename__ = "mail_outbox"
    __table_args__ = (sa.Index("ix_mail_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_addr: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    state: Mapped[MailState] = mapped_column(str_enum(MailState), default=MailState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class TimetablePublication(Base):
    """A week of the timetable sent out to schools (排课表下发)."""

    __tablename__ = "timetable_publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(sa.Date)
    lessons: Mapped[int] = mapped_column(default=0)
    short_notice: Mapped[int] = mapped_column(default=0)
    published_by: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarFeed(Base):
    """A secret iCalendar URL for a teacher or a classroom; stored as a SHA-256 hash."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FeedKind] = mapped_column(str_enum(FeedKind))
    subject_id: Mapped[int] = mapped_column()
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
