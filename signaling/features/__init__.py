"""Room features: state and handlers beyond media, one module per feature.

Why a registry: the session's core dispatch (join, publish, subscribe, ICE,
floor) stays small, and each feature (chat, quizzes, courseware, …) keeps its
messages (`signaling.messages.<name>`), its room state and its handlers in one
module. A feature is a class with:

- `name`: unique; the room keeps one instance per feature (`room.features[name]`);
- handlers: methods decorated with `@handles(MessageType)`, called with the
  sender and the message; they return a reply (or `None` for `ok`) and raise
  `ProtocolError` or a `TongbuError` for typed errors;
- `snapshot(p)`: messages a joiner needs to catch up (the current page, the open quiz);
- `on_leave(p)` and `close()` hooks.

Register a feature by adding its class to `FEATURES` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from signaling.wire import ErrorCode, Message, ProtocolError

if TYPE_CHECKING:
    from signaling.rooms import Participant, Room

Handler = Callable[..., Awaitable[Message | None]]


def handles(*types: type[Message]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a feature method as the handler of these client message types."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__tongbu_handles__ = types  # type: ignore[attr-defined]
        return fn

    return mark


class Feature:
    """Base of room features; one instance per room, created with the room."""

    name: ClassVar[str] = ""
    _handlers: ClassVar[dict[type[Message], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for attr, value in vars(cls).items():
            for message_type in getattr(value, "__tongbu_handles__", ()):
                cls._handlers[message_type] = attr

    def __init__(self, room: Room) -> None:
        self.room = room

    def snapshot(self, p: Participant) -> list[Message]:
        return []

    async def on_join(self, p: Participant) -> None:
        return None

    async def on_leave(self, p: Participant) -> None:
        return None

    async def close(self) -> None:
        return None


# The registered features, in the order their snapshots reach a joiner.
FEATURES: list[type[Feature]] = []


def handler_table() -> dict[type[Message], tuple[str, str]]:
    """message type -> (feature name, method name); a type handled twice is a bug."""
    table: dict[type[Message], tuple[str, str]] = {}
    for feature in FEATURES:
        for message_type, method in feature._handlers.items():
            if message_type in table:
                raise RuntimeError(f"{message_type.__name__} handled by two features")
            table[message_type] = (feature.name, method)
    return table


async def dispatch(room: Room, p: Participant, message: Message) -> Message | None:
    """Route a feature message to its handler in this room."""
    entry = handler_table().get(type(message))
    if entry is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"no handler for {type(message).__name__}", message.id
        )
    feature_name, method = entry
    handler: Handler = getattr(room.features[feature_name], method)
    return await handler(p, message)


# Registered features (one line each; imported last: their modules import this one).
from signaling.features.courseware import Courseware  # noqa: E402

FEATURES.append(Courseware)

# Issue 6 part A: floor modes, chat, quizzes, attendance.
from signaling.features.attendance import Attendance  # noqa: E402
from signaling.features.chat import Chat  # noqa: E402
from signaling.features.floor_modes import FloorModes  # noqa: E402
from signaling.features.quiz import Quizzes  # noqa: E402

FEATURES.extend([FloorModes, Chat, Quizzes, Attendance])
