"""Quizzes and polls (随堂测验): the moderator asks, each classroom answers once.

A whole class answers together, so an answer is either a count of raised
hands per option (`hands`) or the classroom's own choice (`choices`: one index
for a single-choice question, one or more for a multiple-choice one). A second
answer is refused (`already_answered`) unless it sets `replace`; an answer
after the quiz closed is refused (`quiz_closed`). Moderators see the results
live; everyone sees them after the close when the moderator reveals them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from signaling.wire import _ID, Message

_Option = Annotated[str, Field(min_length=1, max_length=200)]
_Hands = Annotated[int, Field(ge=0, le=100_000)]
_Choice = Annotated[int, Field(ge=0, le=7)]


class QuizOpen(Message):
    """Moderator pushes a question to every classroom; the reply is `quiz_opened`."""

    type: Literal["quiz_open"] = "quiz_open"
    question: Annotated[str, Field(min_length=1, max_length=1000)]
    options: Annotated[list[_Option], Field(min_length=2, max_length=8)]
    multiple: bool = False
    # Closes by itself after this many seconds (null: when the moderator closes it).
    seconds: Annotated[int, Field(ge=5, le=3600)] | None = None


class QuizAnswer(Message):
    """A classroom answers: `hands` (count per option) or `choices` (option indexes)."""

    type: Literal["quiz_answer"] = "quiz_answer"
    quiz_id: _ID
    hands: Annotated[list[_Hands], Field(min_length=2, max_length=8)] | None = None
    choices: Annotated[list[_Choice], Field(min_length=1, max_length=8)] | None = None
    # Replace an earlier answer of this classroom while the quiz is open.
    replace: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> QuizAnswer:
        if (self.hands is None) == (self.choices is None):
            raise ValueError("give exactly one of hands or choices")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self


class QuizClose(Message):
    """Moderator closes the quiz; `reveal` sends the results to every classroom too."""

    type: Literal["quiz_close"] = "quiz_close"
    quiz_id: _ID
    reveal: bool = False


class QuizInfo(BaseModel):
    id: str
    question: str
    options: list[str]
    multiple: bool = False
    seconds: int | None = None
    opened_at: datetime
    closes_at: datetime | None = None
    closed: bool = False


class QuizTally(BaseModel):
    """One classroom's answer as the moderator sees it."""

    participant_id: str
    identity: str
    name: str = ""
    hands: list[int] | None = None
    choices: list[int] | None = None
    at: datetime


class QuizOpened(Message):
    """A quiz to answer (also sent after `joined` while one is open)."""

    type: Literal["quiz_opened"] = "quiz_opened"
    quiz: QuizInfo
    # Whether this participant answered already (a late joiner, a reconnect).
    answered: bool = False


class QuizResults(Message):
    """Per classroom and total (`totals[i]`: hands, or classrooms, for option i)."""

    type: Literal["quiz_results"] = "quiz_results"
    quiz_id: str
    classrooms: list[QuizTally] = Field(default_factory=list)
    totals: list[int] = Field(default_factory=list)
    answered: int = 0
    expected: int = 0
    closed: bool = False


class QuizClosed(Message):
    """The quiz ended (`reason`: `closed` by the moderator or `expired`)."""

    type: Literal["quiz_closed"] = "quiz_closed"
    quiz_id: str
    reason: Literal["closed", "expired", "room_closed"] = "closed"
    revealed: bool = False


Client = QuizOpen | QuizAnswer | QuizClose
Server = QuizOpened | QuizResults | QuizClosed
