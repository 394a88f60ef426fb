"""Quizzes and polls (随堂测验): one open question at a time, one answer per classroom.

Answers are keyed by the classroom's identity, not its participant id, so a
classroom that reconnects (new participant id) cannot answer twice. Results go
to the moderators after every answer; to everyone at the close when the
moderator reveals them. Every step goes to the lesson log, and through the
interaction store to the `quiz` / `quiz_answer` tables.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from server.errors import InvalidState, NotFound, PermissionDenied
from signaling.features import Feature, handles
from signaling.messages.quiz import (
    QuizAnswer,
    QuizClose,
    QuizClosed,
    QuizInfo,
    QuizOpen,
    QuizOpened,
    QuizResults,
    QuizTally,
)
from signaling.wire import ErrorCode, Message, ProtocolError

if TYPE_CHECKING:
    from signaling.rooms import Participant, Room

CloseWhy = Literal["closed", "expired", "room_closed"]


@dataclass
class _Quiz:
    info: QuizInfo
    answers: dict[str, QuizTally] = field(default_factory=dict)  # by identity
    timer: asyncio.TimerHandle | None = None

    def totals(self) -> list[int]:
        """Per option: hands raised; a classroom's own choice counts as one."""
        totals = [0] * len(self.info.options)
        for tally in self.answers.values():
            if tally.hands is not None:
                for i, n in enumerate(tally.hands):
                    totals[i] += n
            for i in tally.choices or []:
                totals[i] += 1
        return totals


def answers_quiz(p: Participant) -> bool:
    """Classrooms answer; moderators ask and hidden participants only watch."""
    return not p.moderator and not p.hidden


class Quizzes(Feature):
    name = "quiz"

    def __init__(self, room: Room) -> None:
        super().__init__(room)
        self.current: _Quiz | None = None
        self.closed_ids: set[str] = set()

    # ------------------------------------------------------------ helpers

    def _results(self, quiz: _Quiz) -> QuizResults:
        expected = sum(1 for m in self.room.participants.values() if answers_quiz(m))
        return QuizResults(
            quiz_id=quiz.info.id,
            classrooms=sorted(quiz.answers.values(), key=lambda t: t.at),
            totals=quiz.totals(),
            answered=len(quiz.answers),
            expected=max(expected, len(quiz.answers)),
            closed=quiz.info.closed,
        )

    def _to_moderators(self, message: Message, exclude: Participant | None = None) -> None:
        for m in list(self.room.participants.values()):
            if m.moderator and m is not exclude:
                m.peer.send(message)

    def _open_quiz(self, quiz_id: str) -> _Quiz:
        quiz = self.current
        if quiz is None or quiz.info.id != quiz_id:
            if quiz_id in self.closed_ids:
                raise ProtocolError(ErrorCode.QUIZ_CLOSED, f"quiz {quiz_id} is closed")
            raise NotFound(f"no quiz {quiz_id}")
        if quiz.info.closed:
            raise ProtocolError(ErrorCode.QUIZ_CLOSED, f"quiz {quiz_id} is closed")
        return quiz

    # ------------------------------------------------------------ handlers

    @handles(QuizOpen)
    async def open(self, p: Participant, message: QuizOpen) -> Message | None:
        if not p.moderator:
            raise PermissionDenied("pushing a quiz needs the moderate grant")
        if self.current is not None and not self.current.info.closed:
            raise InvalidState("close the open quiz first")
        limit = self.room.hub.settings.interaction.quiz_max_seconds
        if message.seconds is not None and message.seconds > limit:
            raise InvalidState(f"a quiz lasts at most {limit} seconds")
        now = datetime.now(UTC)
        info = QuizInfo(
            id=f"QZ_{uuid.uuid4().hex[:12]}",
            question=message.question.strip(),
            options=[o.strip() for o in message.options],
            multiple=message.multiple,
            seconds=message.seconds,
            opened_at=now,
            closes_at=now + timedelta(seconds=message.seconds) if message.seconds else None,
        )
        quiz = _Quiz(info)
        self.current = quiz
        if message.seconds:
            loop = asyncio.get_running_loop()
            quiz.timer = loop.call_later(
                message.seconds, lambda: self.room.spawn(self._close(quiz, "expired", False))
            )
        self.room.broadcast(QuizOpened(quiz=info), exclude=p)
        self.room.emit("quiz.opened", p, {"quiz": info.model_dump(mode="json")})
        self._to_moderators(self._results(quiz))
        return QuizOpened(quiz=info)

    @handles(QuizAnswer)
    async def answer(self, p: Participant, message: QuizAnswer) -> Message | None:
        if not answers_quiz(p):
            raise PermissionDenied("only classrooms answer quizzes")
        quiz = self._open_quiz(message.quiz_id)
        n = len(quiz.info.options)
        if message.hands is not None:
            if len(message.hands) != n:
                raise ProtocolError(
                    ErrorCode.INVALID_MESSAGE, f"hands must give a count for each of {n} options"
                )
            limit = self.room.hub.settings.interaction.quiz_max_hands
            if sum(message.hands) > limit:
                raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"at most {limit} hands in all")
        if message.choices is not None:
            if any(c >= n for c in message.choices):
                raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"choices must lie in 0..{n - 1}")
            if not quiz.info.multiple and len(message.choices) != 1:
                raise ProtocolError(
                    ErrorCode.INVALID_MESSAGE, "a single-choice question takes one choice"
                )
        identity = p.claims.identity
        if identity in quiz.answers and not message.replace:
            raise ProtocolError(
                ErrorCode.ALREADY_ANSWERED, "this classroom has answered (send replace to change)"
            )
        replaced = identity in quiz.answers
        tally = QuizTally(
            participant_id=p.id,
            identity=identity,
            name=p.claims.name,
            hands=message.hands,
            choices=sorted(message.choices) if message.choices is not None else None,
            at=datetime.now(UTC),
        )
        quiz.answers[identity] = tally
        self.room.emit(
            "quiz.answered",
            p,
            {
                "quiz_id": quiz.info.id,
                "hands": tally.hands,
                "choices": tally.choices,
                "replaced": replaced,
                "name": p.claims.name,
                "classroom_id": p.claims.classroom_id,
            },
        )
        self._to_moderators(self._results(quiz))
        return None

    @handles(QuizClose)
    async def close_quiz(self, p: Participant, message: QuizClose) -> Message | None:
        if not p.moderator:
            raise PermissionDenied("closing a quiz needs the moderate grant")
        quiz = self._open_quiz(message.quiz_id)
        await self._close(quiz, "closed", message.reveal, p)
        return None

    async def _close(
        self, quiz: _Quiz, why: CloseWhy, reveal: bool, by: Participant | None = None
    ) -> None:
        if quiz.info.closed:
            return
        quiz.info.closed = True
        if quiz.timer is not None:
            quiz.timer.cancel()
        self.closed_ids.add(quiz.info.id)
        results = self._results(quiz)
        self.room.broadcast(QuizClosed(quiz_id=quiz.info.id, reason=why, revealed=reveal))
        if reveal:
            self.room.broadcast(results)
        else:
            self._to_moderators(results)
        self.room.emit(
            "quiz.closed",
            by,
            {
                "quiz_id": quiz.info.id,
                "reason": why,
                "revealed": reveal,
                "totals": results.totals,
                "answered": results.answered,
                "expected": results.expected,
            },
        )

    # ------------------------------------------------------------ room hooks

    def snapshot(self, p: Participant) -> list[Message]:
        quiz = self.current
        if quiz is None or quiz.info.closed:
            return []
        out: list[Message] = [
            QuizOpened(quiz=quiz.info, answered=p.claims.identity in quiz.answers)
        ]
        if p.moderator:
            out.append(self._results(quiz))
        return out

    async def on_join(self, p: Participant) -> None:
        if self.current is not None and not self.current.info.closed and answers_quiz(p):
            self._to_moderators(self._results(self.current))

    async def close(self) -> None:
        if self.current is not None and not self.current.info.closed:
            await self._close(self.current, "room_closed", False)
