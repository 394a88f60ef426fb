"""SQLAlchemy 2 models: the persistent state of Tongbu.

One module on purpose: the schema is read as a whole when writing a migration.
Conventions:
- every timestamp is timezone-aware UTC (`UTCDateTime` normalises SQLite's naive values);
- enums are stored as short strings (no PostgreSQL enum types, so migrations stay
  portable between SQLite and PostgreSQL);
- the org unit tree keeps a materialized `path` ("/1/4/9/") so "everything under
  this county" is one indexed prefix query instead of a recursive CTE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware UTC, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(UTC)
        # SQLite compares the stored text; keep one canonical (naive UTC) form there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[StrEnum]) -> sa.Enum:
    """Store a StrEnum as its value in a VARCHAR, portable across dialects."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: sa.JSON,
        list[Any]: sa.JSON,
    }


class UnitLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    SCHOOL = "school"

    @property
    def rank(self) -> int:
        return list(UnitLevel).index(self)


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    CLASSROOM = "classroom"  # a classroom device account
    EVALUATOR = "evaluator"
    RESEARCHER = "researcher"


class ClassroomKind(StrEnum):
    MAIN = "main"
    RECEIVING = "receiving"


class LessonState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class LessonKind(StrEnum):
    LESSON = "lesson"
    RESEARCH = "research"  # 同步教研
    MEETING = "meeting"


class TeachingLanguage(StrEnum):
    """Language a lesson is taught in (蒙古语授课: Mongolian-medium schools); issue 9."""

    ZH = "zh"
    MN = "mn"
    BILINGUAL = "bilingual"


class RecordingState(StrEnum):
    PENDING = "pending"
    RECORDING = "recording"
    PROCESSING = "processing"
    UPLOADED = "uploaded"
    READY = "ready"
    FAILED = "failed"


class OrgUnit(Base):
    """A node of province → city → county → township → school."""

    __tablename__ = "org_unit"
    __table_args__ = (sa.UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[UnitLevel] = mapped_column(str_enum(UnitLevel))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id", ondelete="RESTRICT"))
    # "/1/4/9/": ids from the root down to and including this unit.
    path: Mapped[str] = mapped_column(sa.String(400), default="", index=True)
    code: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Classroom(Base):
    """A physical classroom; its device pairs once and then holds a device token."""

    __tablename__ = "classroom"
    __table_args__ = (sa.UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[ClassroomKind] = mapped_column(str_enum(ClassroomKind))
    capacity: Mapped[int | None] = mapped_column()
    # Bumped on every pairing: device tokens carry it, so older tokens stop working.
    device_token_version: Mapped[int] = mapped_column(default=0)
    device_paired_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[OrgUnit] = relationship(lazy="raise")


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    # The home unit is the user's scope (an admin manages everything under it).
    org_unit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    # Only for role=classroom: the classroom this account speaks for.
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="CASCADE")
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship(lazy="raise")


class Course(Base):
    __tablename__ = "course"
    __table_args__ = (sa.UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(80), default="")
    grade: Mapped[str] = mapped_column(sa.String(40), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


lesson_receiver = sa.Table(
    "lesson_receiver",
    Base.metadata,
    sa.Column("lesson_id", sa.ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "classroom_id",
        sa.ForeignKey("classroom.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
)


class Lesson(Base):
    """A timetable entry: one main classroom teaching live to several receiving ones."""

    __tablename__ = "lesson"
    __table_args__ = (
        sa.Index("ix_lesson_teacher_time", "teacher_id", "starts_at"),
        sa.Index("ix_lesson_main_time", "main_classroom_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[LessonKind] = mapped_column(str_enum(LessonKind), default=LessonKind.LESSON)
    state: Mapped[LessonState] = mapped_column(str_enum(LessonState), default=LessonState.SCHEDULED)
    course_id: Mapped[int | None] = mapped_column(sa.ForeignKey("course.id", ondelete="SET NULL"))
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    main_classroom_id: Mapped[int] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="RESTRICT")
    )
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    actual_start: Mapped[datetime | None] = mapped_column()
    actual_end: Mapped[datetime | None] = mapped_column()
    # Lessons expanded from one weekly rule share this id.
    recurrence_group: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    # Issue 9: teaching language, and "created or moved less than two days ahead" (admins see it).
    language: Mapped[TeachingLanguage] = mapped_column(
        str_enum(TeachingLanguage), default=TeachingLanguage.ZH, server_default="zh"
    )
    short_notice: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    receivers: Mapped[list[Classroom]] = relationship(
        secondary=lesson_receiver, lazy="selectin", order_by=Classroom.id
    )

    @property
    def receiving_classroom_ids(self) -> list[int]:
        return [c.id for c in self.receivers]


class EvaluationAssignment(Base):
    """An evaluator invited to score a lesson outside their own unit."""

    __tablename__ = "evaluation_assignment"

    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True
    )
    evaluator_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Participation(Base):
    """Attendance of one classroom in one lesson."""

    __tablename__ = "participation"
    __table_args__ = (
        sa.UniqueConstraint("lesson_id", "classroom_id"),
        # Usage statistics: "which teaching points took a lesson in this period".
        sa.Index("ix_participation_classroom_lesson", "classroom_id", "lesson_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    classroom_id: Mapped[int] = mapped_column(sa.ForeignKey("classroom.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime | None] = mapped_column()
    left_at: Mapped[datetime | None] = mapped_column()
    pupils_present: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LessonEvent(Base):
    """Append-only log on the lesson timeline (offset 0 = actual start)."""

    __tablename__ = "lesson_event"
    __table_args__ = (sa.Index("ix_lesson_event_lesson_offset", "lesson_id", "offset_ms"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("lesson.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(60))
    actor: Mapped[str] = mapped_column(sa.String(120), default="")
    offset_ms: Mapped[int] = mapped_column(sa.BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rubric(Base):
    """Scoring criteria: `criteria` = [{"key", "label", "max"}]."""

    __tablename__ = "rubric"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    criteria: Mapped[list[Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Migration 0006 (issue 6): the unit whose lessons use this rubric (nearest unit up the
    # tree wins); NULL = the default for everyone without one of their own.
    org_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="CASCADE"), index=True
    )


class Evaluation(Base):
    __tablename__ = "evaluation"
    __table_args__ = (sa.UniqueConstraint("lesson_id", "evaluator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    evaluator_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    rubric_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rubric.id", ondelete="SET NULL"))
    # A copy of the criteria at scoring time: later rubric edits don't rewrite history.
    rubric: Mapped[list[Any]] = mapped_column(default=list)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    comments: Mapped[list[EvaluationComment]] = relationship(
        lazy="selectin", order_by="EvaluationComment.offset_ms", cascade="all, delete-orphan"
    )


class EvaluationComment(Base):
    __tablename__ = "evaluation_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evaluation.id", ondelete="CASCADE"), index=True
    )
    offset_ms: Mapped[int] = mapped_column(sa.BigInteger)
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recording(Base):
    __tablename__ = "recording"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[RecordingState] = mapped_column(
        str_enum(RecordingState), default=RecordingState.PENDING
    )
    storage_key: Mapped[str] = mapped_column(sa.String(400))
    tracks: Mapped[list[Any]] = mapped_column(default=list)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Added by migration 0003 (recording): progress reported by the recorder process.
    duration_ms: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Set when the recording finished with its unit over quota (`tongbu recording prune`).
    over_quota: Mapped[bool] = mapped_column(default=False)
    restarts: Mapped[int] = mapped_column(default=0)


class PairingCode(Base):
    """A 6-digit code an admin reads out to a classroom; stored hashed, single use."""

    __tablename__ = "pairing_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(128), index=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_scope_time", "scope_path", "created_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    actor: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(80))
    target: Mapped[str] = mapped_column(sa.String(120), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Org path the entry belongs to (the actor's unit, or the target's when known):
    # GET /api/audit shows an admin the entries under their own unit only.
    scope_path: Mapped[str] = mapped_column(sa.String(400), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
