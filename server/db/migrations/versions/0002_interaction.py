"""interaction: chat messages, quizzes and quiz answers

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", _BIGID, nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=40), nullable=False),
        sa.Column("identity", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=True),
        sa.Column("to", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("offset_ms", _BIGID, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.Column("deleted_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_chat_message_classroom_id_classroom"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lesson.id"],
            name=op.f("fk_chat_message_lesson_id_lesson"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_message")),
        sa.UniqueConstraint("uid", name=op.f("uq_chat_message_uid")),
    )
    op.create_index(
        "ix_chat_message_lesson_offset", "chat_message", ["lesson_id", "offset_ms"]
    )
    op.create_table(
        "quiz",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=40), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("opened_by", sa.String(length=120), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("offset_ms", _BIGID, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("close_reason", sa.String(length=20), nullable=True),
        sa.Column("revealed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lesson.id"], name=op.f("fk_quiz_lesson_id_lesson"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz")),
        sa.UniqueConstraint("uid", name=op.f("uq_quiz_uid")),
    )
    op.create_index(op.f("ix_quiz_lesson_id"), "quiz", ["lesson_id"])
    op.create_table(
        "quiz_answer",
        sa.Column("id", _BIGID, nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=True),
        sa.Column("hands", sa.JSON(), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=True),
        sa.Column("answered_at", _TS, nullable=False),
        sa.Column("offset_ms", _BIGID, nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classroom.id"],
            name=op.f("fk_quiz_answer_classroom_id_classroom"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quiz.id"], name=op.f("fk_quiz_answer_quiz_id_quiz"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_answer")),
        sa.UniqueConstraint("quiz_id", "identity", name=op.f("uq_quiz_answer_quiz_id_identity")),
    )


def downgrade() -> None:
    op.drop_table("quiz_answer")
    op.drop_index(op.f("ix_quiz_lesson_id"), table_name="quiz")
    op.drop_table("quiz")
    op.drop_index("ix_chat_message_lesson_offset", table_name="chat_message")
    op.drop_table("chat_message")
