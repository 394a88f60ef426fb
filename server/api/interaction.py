"""Lesson reports of classroom interaction: quizzes with their results, attendance, chat.

Why separate from the live signaling: these are read after (or during) the
lesson by the teacher, admins in scope and evaluators, over REST; the rows are
written by the interaction store (signaling/features/store.py) and the lesson
log. Every route checks the lesson's scope (`get_visible_lesson`). A classroom
device sees its own answers and the totals only once the teacher revealed them,
and only the public chat.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import selectinload

from server.api.deps import CurrentPrincipal, SessionDep
from server.auth import Principal
from server.db.models import Classroom, Lesson, Participation, Role
from server.db.models_interaction import ChatMessage, Quiz
from server.policy import get_visible_lesson

router = APIRouter(prefix="/api/lessons/{lesson_id}", tags=["interaction"])


class QuizAnswerOut(BaseModel):
    identity: str
    name: str
    classroom_id: int | None
    hands: list[int] | None
    choices: list[int] | None
    answered_at: datetime
    offset_ms: int


class QuizOut(BaseModel):
    id: str
    question: str
    options: list[str]
    multiple: bool
    seconds: int | None
    opened_by: str
    opened_at: datetime
    offset_ms: int
    closed_at: datetime | None
    close_reason: str | None
    revealed: bool
    # Per option: hands raised, a classroom's own choice counting one (null: not revealed).
    totals: list[int] | None
    answered: int
    answers: list[QuizAnswerOut]


class AttendanceRow(BaseModel):
    classroom_id: int
    name: str
    main: bool
    attended: bool
    joined_at: datetime | None
    left_at: datetime | None
    pupils_present: int | None


class AttendanceReportOut(BaseModel):
    lesson_id: int
    title: str
    classrooms: list[AttendanceRow]
    expected: int
    attended: int
    pupils_present: int


class ChatOut(BaseModel):
    id: str
    identity: str
    name: str
    role: str
    to: str
    text: str
    offset_ms: int
    created_at: datetime
    deleted: bool


def _sees_everything(p: Principal) -> bool:
    return p.role is not Role.CLASSROOM


def _totals(quiz: Quiz) -> list[int]:
    totals = [0] * len(quiz.options)
    for a in quiz.answers:
        for i, n in enumerate(a.hands or []):
            if i < len(totals):
                totals[i] += int(n)
        for i in a.choices or []:
            if 0 <= i < len(totals):
                totals[i] += 1
    return totals


@router.get("/quizzes", response_model=list[QuizOut])
async def list_quizzes(lesson_id: int, session: SessionDep, p: CurrentPrincipal) -> list[QuizOut]:
    """Every quiz of the lesson in order, with each classroom's answer and the totals."""
    await get_visible_lesson(session, p, lesson_id)
    quizzes = (
        await session.scalars(
            sa.select(Quiz)
            .where(Quiz.lesson_id == lesson_id)
            .options(selectinload(Quiz.answers))
            .order_by(Quiz.opened_at, Quiz.id)
        )
    ).all()
    everything = _sees_everything(p)
    out = []
    for q in quizzes:
        answers = [
            a for a in q.answers if everything or a.classroom_id == p.classroom_id
        ]
        out.append(
            QuizOut(
                id=q.uid,
                question=q.question,
                options=list(q.options),
                multiple=q.multiple,
                seconds=q.seconds,
                opened_by=q.opened_by,
                opened_at=q.opened_at,
                offset_ms=q.offset_ms,
                closed_at=q.closed_at,
                close_reason=q.close_reason,
                revealed=q.revealed,
                totals=_totals(q) if everything or q.revealed else None,
                answered=len(q.answers),
                answers=[
                    QuizAnswerOut(
                        identity=a.identity,
                        name=a.name,
                        classroom_id=a.classroom_id,
                        hands=a.hands,
                        choices=a.choices,
                        answered_at=a.answered_at,
                        offset_ms=a.offset_ms,
                    )
                    for a in answers
                ],
            )
        )
    return out


@router.get("/attendance/report", response_model=AttendanceReportOut)
async def attendance_report(
    lesson_id: int, session: SessionDep, p: CurrentPrincipal
) -> AttendanceReportOut:
    """Every classroom of the lesson (main first): present or not, when, how many pupils."""
    lesson: Lesson = await get_visible_lesson(session, p, lesson_id)
    ids = [lesson.main_classroom_id, *lesson.receiving_classroom_ids]
    found = await session.execute(
        sa.select(Classroom.id, Classroom.name).where(Classroom.id.in_(ids))
    )
    names = dict(found.tuples().all())
    rows = {
        r.classroom_id: r
        for r in (
            await session.scalars(
                sa.select(Participation).where(Participation.lesson_id == lesson_id)
            )
        ).all()
    }
    classrooms = []
    for cid in ids:
        row = rows.get(cid)
        classrooms.append(
            AttendanceRow(
                classroom_id=cid,
                name=names.get(cid, ""),
                main=cid == lesson.main_classroom_id,
                attended=row is not None and row.joined_at is not None,
                joined_at=row.joined_at if row else None,
                left_at=row.left_at if row else None,
                pupils_present=row.pupils_present if row else None,
            )
        )
    return AttendanceReportOut(
        lesson_id=lesson.id,
        title=lesson.title,
        classrooms=classrooms,
        expected=len(ids),
        attended=sum(1 for c in classrooms if c.attended),
        pupils_present=sum(c.pupils_present or 0 for c in classrooms),
    )


@router.get("/chat", response_model=list[ChatOut])
async def chat_transcript(
    lesson_id: int, session: SessionDep, p: CurrentPrincipal
) -> list[ChatOut]:
    """The lesson's chat in order; deleted messages show as deleted (text withheld).

    A classroom device reads the public chat and its own messages to the teacher.
    """
    await get_visible_lesson(session, p, lesson_id)
    query = sa.select(ChatMessage).where(ChatMessage.lesson_id == lesson_id)
    if not _sees_everything(p):
        query = query.where(
            sa.or_(ChatMessage.to == "all", ChatMessage.classroom_id == p.classroom_id)
        )
    rows = (await session.scalars(query.order_by(ChatMessage.offset_ms, ChatMessage.id))).all()
    return [
        ChatOut(
            id=r.uid,
            identity=r.identity,
            name=r.name,
            role=r.role,
            to=r.to,
            text="" if r.deleted_at else r.text,
            offset_ms=r.offset_ms,
            created_at=r.created_at,
            deleted=r.deleted_at is not None,
        )
        for r in rows
    ]
