"""Interaction calls and state for `TongbuClient`: floor modes, chat, quizzes, attendance.

`InteractionView` mirrors what the pages show (chat history, the open quiz, the
latest results, head counts) and calls the `on_chat`, `on_quiz`, … handlers;
it is updated from the server's messages (`apply`), including the snapshot
right after `joined`. `InteractionCalls` are the requests; `TongbuClient`
inherits them (it provides `request` and `_emit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from signaling.messages.attendance import PupilsReport, PupilsReported
from signaling.messages.chat import (
    ChatDelete,
    ChatDeleted,
    ChatEnable,
    ChatEntry,
    ChatMessage,
    ChatSend,
    ChatState,
)
from signaling.messages.floor_modes import FloorModeSet, MuteAll
from signaling.messages.quiz import (
    QuizAnswer,
    QuizClose,
    QuizClosed,
    QuizInfo,
    QuizOpen,
    QuizOpened,
    QuizResults,
)
from signaling.protocol import FloorGrant
from signaling.wire import Message

Handler = Callable[..., Any]


@dataclass
class InteractionView:
    chat_enabled: bool = True
    chat: list[ChatEntry] = field(default_factory=list)
    quiz: QuizInfo | None = None
    quiz_answered: bool = False
    results: dict[str, QuizResults] = field(default_factory=dict)  # by quiz id
    closed_quizzes: list[QuizClosed] = field(default_factory=list)
    pupils: dict[str, PupilsReported] = field(default_factory=dict)  # by identity
    handlers: dict[str, list[Handler]] = field(default_factory=dict)

    def on(self, event: str, handler: Handler) -> Handler:
        self.handlers.setdefault(event, []).append(handler)
        return handler

    def apply(self, message: Message) -> tuple[str, Any] | None:
        """Update from a server message; returns (event, payload) or None if not ours."""
        match message:
            case ChatMessage(message=entry):
                self.chat.append(entry)
                return "chat", entry
            case ChatDeleted(message_id=mid):
                self.chat = [e for e in self.chat if e.id != mid]
                return "chat_deleted", mid
            case ChatState(enabled=enabled, history=history):
                self.chat_enabled = enabled
                if history is not None:
                    self.chat = list(history)
                return "chat_state", message
            case QuizOpened(quiz=quiz, answered=answered):
                self.quiz, self.quiz_answered = quiz, answered
                return "quiz", quiz
            case QuizResults():
                self.results[message.quiz_id] = message
                return "quiz_results", message
            case QuizClosed():
                if self.quiz is not None and self.quiz.id == message.quiz_id:
                    self.quiz.closed = True
                self.closed_quizzes.append(message)
                return "quiz_closed", message
            case PupilsReported():
                self.pupils[message.identity] = message
                return "pupils", message
        return None


class InteractionCalls:
    """Requests of issue 6 part A; mixed into `TongbuClient`."""

    interaction: InteractionView

    async def request(self, message: Any, expect: Any) -> Any:  # provided by TongbuClient
        raise NotImplementedError

    # ------------------------------------------------------------ events

    def on_chat(self, handler: Handler) -> Handler:
        """`handler(ChatEntry)` for every message shown to us (not our own replies)."""
        return self.interaction.on("chat", handler)

    def on_chat_deleted(self, handler: Handler) -> Handler:
        """`handler(message_id)`."""
        return self.interaction.on("chat_deleted", handler)

    def on_quiz(self, handler: Handler) -> Handler:
        """`handler(QuizInfo)` when a quiz opens (or is open when we join)."""
        return self.interaction.on("quiz", handler)

    def on_quiz_results(self, handler: Handler) -> Handler:
        """`handler(QuizResults)`: live for moderators, to all at a revealing close."""
        return self.interaction.on("quiz_results", handler)

    def on_quiz_closed(self, handler: Handler) -> Handler:
        return self.interaction.on("quiz_closed", handler)

    def on_pupils(self, handler: Handler) -> Handler:
        """`handler(PupilsReported)` (moderators)."""
        return self.interaction.on("pupils", handler)

    # ------------------------------------------------------------ floor modes

    async def grant_floor_for(self, participant_id: str, seconds: int) -> None:
        """Grant the floor with a time limit; the server takes it back after `seconds`."""
        await self.request(FloorGrant(participant_id=participant_id, seconds=seconds), Message)

    async def set_floor_mode(
        self, mode: str, *, max_speakers: int | None = None, time_limit: int | None = None
    ) -> None:
        """`chair` or `free`; `max_speakers` None = server default, 0 = no limit."""
        await self.request(
            FloorModeSet(mode=mode, max_speakers=max_speakers, time_limit=time_limit),  # type: ignore[arg-type]
            Message,
        )

    async def mute_all(self, muted: bool = True) -> None:
        await self.request(MuteAll(muted=muted), Message)

    # ------------------------------------------------------------ chat

    async def chat_send(self, text: str, *, to: str = "all") -> ChatEntry:
        reply = await self.request(ChatSend(text=text, to=to), ChatMessage)  # type: ignore[arg-type,unused-ignore]
        self.interaction.chat.append(reply.message)
        return reply.message  # type: ignore[no-any-return,unused-ignore]

    async def chat_delete(self, message_id: str) -> None:
        await self.request(ChatDelete(message_id=message_id), Message)
        self.interaction.chat = [e for e in self.interaction.chat if e.id != message_id]

    async def chat_enable(self, enabled: bool = True) -> None:
        await self.request(ChatEnable(enabled=enabled), Message)
        self.interaction.chat_enabled = enabled

    # ------------------------------------------------------------ quizzes

    async def quiz_open(
        self,
        question: str,
        options: Sequence[str],
        *,
        multiple: bool = False,
        seconds: int | None = None,
    ) -> QuizInfo:
        reply = await self.request(
            QuizOpen(question=question, options=list(options), multiple=multiple, seconds=seconds),
            QuizOpened,
        )
        self.interaction.quiz = reply.quiz
        return reply.quiz  # type: ignore[no-any-return,unused-ignore]

    async def quiz_answer(
        self,
        quiz_id: str,
        *,
        hands: Sequence[int] | None = None,
        choices: Sequence[int] | None = None,
        replace: bool = False,
    ) -> None:
        await self.request(
            QuizAnswer(
                quiz_id=quiz_id,
                hands=list(hands) if hands is not None else None,
                choices=list(choices) if choices is not None else None,
                replace=replace,
            ),
            Message,
        )
        self.interaction.quiz_answered = True

    async def quiz_close(self, quiz_id: str, *, reveal: bool = False) -> None:
        await self.request(QuizClose(quiz_id=quiz_id, reveal=reveal), Message)

    # ------------------------------------------------------------ attendance

    async def report_pupils(self, pupils_present: int) -> None:
        await self.request(PupilsReport(pupils_present=pupils_present), Message)
