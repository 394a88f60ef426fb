"""collab: courseware documents, research sessions and course notes, meetings, unit rubrics

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-03 08:00:00

Also seeds the default rubric (org_unit_id NULL) when the table has none, so a fresh
installation can score lessons before an admin writes its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
STATE = sa.Enum("scheduled", "ended", name="sessionstate", native_enum=False, length=20)
SOURCE = sa.Enum("pdf", "png", "jpeg", name="sourcekind", native_enum=False, length=20)

DEFAULT_RUBRIC = "课堂教学评价表（默认）"
DEFAULT_CRITERIA = [
    {"key": "goals", "label": "教学目标", "max": 20},
    {"key": "interaction", "label": "主讲与接收课堂互动", "max": 30},
    {"key": "media", "label": "音视频与课件效果", "max": 20},
    {"key": "outcome", "label": "学习效果", "max": 30},
]


def _invite(name: str, parent: str, parent_col: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(parent_col, sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (org_unit_id IS NULL)", name=op.f(f"ck_{name}_one_target")
        ),
        sa.ForeignKeyConstraint(
            [parent_col], [f"{parent}.id"],
            name=op.f(f"fk_{name}_{parent_col}_{parent}"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"],
            name=op.f(f"fk_{name}_user_id_user_account"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"],
            name=op.f(f"fk_{name}_org_unit_id_org_unit"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_{parent_col}"), name, [parent_col], unique=False)
    op.create_index(op.f(f"ix_{name}_user_id"), name, ["user_id"], unique=False)


def _session(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        *([sa.Column("course_id", sa.Integer(), nullable=True)] if name == "research_session"
          else []),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        *([sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"],
            name=op.f(f"fk_{name}_course_id_course"), ondelete="SET NULL",
        )] if name == "research_session" else []),
        sa.ForeignKeyConstraint(
            ["host_id"], ["user_account.id"],
            name=op.f(f"fk_{name}_host_id_user_account"), ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"],
            name=op.f(f"fk_{name}_org_unit_id_org_unit"), ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_starts_at"), name, ["starts_at"], unique=False)
    if name == "research_session":
        op.create_index(op.f(f"ix_{name}_course_id"), name, ["course_id"], unique=False)


def upgrade() -> None:
    _session("research_session")
    _invite("research_invite", "research_session", "session_id")
    _session("meeting")
    _invite("meeting_invite", "meeting", "meeting_id")
    op.create_table(
        "course_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"],
            name=op.f("fk_course_note_course_id_course"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["research_session.id"],
            name=op.f("fk_course_note_session_id_research_session"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"],
            name=op.f("fk_course_note_author_id_user_account"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_note")),
    )
    op.create_index(op.f("ix_course_note_course_id"), "course_note", ["course_id"], unique=False)
    op.create_table(
        "courseware_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("source_kind", SOURCE, nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "(CASE WHEN lesson_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN course_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN session_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN meeting_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_courseware_document_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lesson.id"],
            name=op.f("fk_courseware_document_lesson_id_lesson"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"],
            name=op.f("fk_courseware_document_course_id_course"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["research_session.id"],
            name=op.f("fk_courseware_document_session_id_research_session"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"],
            name=op.f("fk_courseware_document_meeting_id_meeting"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["user_account.id"],
            name=op.f("fk_courseware_document_uploaded_by_user_account"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courseware_document")),
    )
    for col in ("lesson_id", "course_id", "session_id", "meeting_id"):
        op.create_index(
            op.f(f"ix_courseware_document_{col}"), "courseware_document", [col], unique=False
        )
    with op.batch_alter_table("rubric") as batch:
        batch.add_column(sa.Column("org_unit_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_rubric_org_unit_id_org_unit"), "org_unit", ["org_unit_id"], ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_rubric_org_unit_id"), ["org_unit_id"], unique=False)
    rubric = sa.table(
        "rubric",
        sa.column("name", sa.String),
        sa.column("criteria", sa.JSON),
        sa.column("created_at", TS),
        sa.column("org_unit_id", sa.Integer),
    )
    conn = op.get_bind()
    has_default = conn.execute(
        sa.select(sa.func.count()).select_from(rubric).where(rubric.c.org_unit_id.is_(None))
    ).scalar()
    if not has_default:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        op.bulk_insert(
            rubric,
            [{
                "name": DEFAULT_RUBRIC,
                "criteria": DEFAULT_CRITERIA,
                "created_at": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now,
                "org_unit_id": None,
            }],
        )


def downgrade() -> None:
    with op.batch_alter_table("rubric") as batch:
        batch.drop_index(op.f("ix_rubric_org_unit_id"))
        batch.drop_constraint(op.f("fk_rubric_org_unit_id_org_unit"), type_="foreignkey")
        batch.drop_column("org_unit_id")
    for col in ("meeting_id", "session_id", "course_id", "lesson_id"):
        op.drop_index(op.f(f"ix_courseware_document_{col}"), table_name="courseware_document")
    op.drop_table("courseware_document")
    op.drop_index(op.f("ix_course_note_course_id"), table_name="course_note")
    op.drop_table("course_note")
    for name, parent_col in (("meeting_invite", "meeting_id"), ("research_invite", "session_id")):
        op.drop_index(op.f(f"ix_{name}_user_id"), table_name=name)
        op.drop_index(op.f(f"ix_{name}_{parent_col}"), table_name=name)
        op.drop_table(name)
    op.drop_index(op.f("ix_meeting_starts_at"), table_name="meeting")
    op.drop_table("meeting")
    op.drop_index(op.f("ix_research_session_course_id"), table_name="research_session")
    op.drop_index(op.f("ix_research_session_starts_at"), table_name="research_session")
    op.drop_table("research_session")
