"""Tables of classroom interaction (issue 6 part A): chat messages, quizzes and answers.

Why a module of its own: these rows are written only by the interaction store
(an observer of room events, signaling/features/store.py) and read by the
lesson reports (server/api/interaction.py). Public ids (`uid`) are the ids the
signaling protocol used, so a log entry, a row and a wire message name the
same thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.models import Base, utcnow

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class ChatMessage(Base):
    """One chat message of a lesson; deleted ones are kept, marked (moderation trail)."""

    __tablename__ = "chat_message"
    __table_args__ = (sa.Index("ix_chat_message_lesson_offset", "lesson_id", "offset_ms"),)

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("lesson.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(sa.String(40), unique=True)
    identity: Mapped[str] = mapped_column(sa.String(120))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str] = mapped_column(sa.String(20))
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="SET NULL")
    )
    # "all" or "moderators" (to the teacher only).
    to: Mapped[str] = mapped_column(sa.String(20), default="all")
    text: Mapped[str] = mapped_column(sa.Text)
    offset_ms: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
    deleted_by: Mapped[str | None] = mapped_column(sa.String(120))


class Quiz(Base):
    """A question pushed to the classrooms of a lesson (随堂测验)."""

    __tablename__ = "quiz"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    uid: Mapped[str] = mapped_column(sa.String(40), unique=True)
    question: Mapped[str] = mapped_column(sa.Text)
    options: Mapped[list[Any]] = mapped_column()
    multiple: Mapped[bool] = mapped_column(default=False)
    seconds: Mapped[int | None] = mapped_column()
    opened_by: Mapped[str] = mapped_column(sa.String(120))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    offset_ms: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    closed_at: Mapped[datetime | None] = mapped_column()
    # closed | expired | room_closed; null while open.
    close_reason: Mapped[str | None] = mapped_column(sa.String(20))
    revealed: Mapped[bool] = mapped_column(default=False)

    answers: Mapped[list[QuizAnswer]] = relationship(
        back_populates="quiz", cascade="all, delete-orphan", order_by="QuizAnswer.answered_at"
    )


class QuizAnswer(Base):
    """One classroom's answer (hands per option, or its choices); a replace overwrites."""

    __tablename__ = "quiz_answer"
    __table_args__ = (sa.UniqueConstraint("quiz_id", "identity"),)

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(sa.ForeignKey("quiz.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(sa.String(120))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="SET NULL")
    )
    hands: Mapped[list[Any] | None] = mapped_column(sa.JSON)
    choices: Mapped[list[Any] | None] = mapped_column(sa.JSON)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    offset_ms: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))

    quiz: Mapped[Quiz] = relationship(back_populates="answers")
