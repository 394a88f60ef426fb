"""Chat per room: to everyone or to the moderators, with limits and moderation.

Why the limits live here and not in the session's rate limiter: the session's
bucket protects the server from a flooding socket (50 messages/s); a chat
flood is a classroom nuisance long before that, so chat has its own, much
smaller bucket per participant, and a flood only costs the flooder its
`rate_limited` replies. History is kept in memory for late joiners (the last
`chat_history` messages); every message and deletion also goes to the lesson
log and, through the interaction store, to the `chat_message` table.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from server.errors import NotFound, PermissionDenied
from signaling.features import Feature, handles
from signaling.messages.chat import (
    ChatDelete,
    ChatDeleted,
    ChatEnable,
    ChatEntry,
    ChatMessage,
    ChatSend,
    ChatState,
)
from signaling.wire import ErrorCode, Message, ProtocolError

if TYPE_CHECKING:
    from signaling.rooms import Participant, Room

logger = logging.getLogger("tongbu.signaling.chat")


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(1, burst))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


async def load_history(db: Any, lesson_id: int, limit: int) -> list[ChatEntry]:
    """The lesson's last `limit` stored messages that were not deleted, oldest first."""
    from server.db.models_interaction import ChatMessage as Row

    async with db.session() as session:
        rows = (
            await session.scalars(
                sa.select(Row)
                .where(Row.lesson_id == lesson_id, Row.deleted_at.is_(None))
                .order_by(Row.offset_ms.desc(), Row.id.desc())
                .limit(limit)
            )
        ).all()
    return [
        ChatEntry(
            id=r.uid,
            participant_id="",
            identity=r.identity,
            name=r.name,
            role=r.role,
            to="moderators" if r.to == "moderators" else "all",
            text=r.text,
            at=r.created_at,
        )
        for r in reversed(rows)
    ]


def may_post(p: Participant) -> bool:
    """The token's `chat` grant decides; without one, visible participants may post."""
    granted = p.claims.grants.chat
    return (not p.hidden) if granted is None else granted


class Chat(Feature):
    name = "chat"

    def __init__(self, room: Room) -> None:
        super().__init__(room)
        limits = room.hub.settings.interaction
        self.enabled = True
        self.history: deque[ChatEntry] = deque(maxlen=max(0, limits.chat_history))
        self._buckets: dict[str, TokenBucket] = {}
        self._ids: set[str] = set()  # ids of messages still shown somewhere
        self._restored = False

    def _readers(self, entry: ChatEntry) -> list[Participant]:
        members = list(self.room.participants.values())
        if entry.to == "all":
            return members
        return [m for m in members if m.moderator or m.id == entry.participant_id]

    def _sees(self, p: Participant, entry: ChatEntry) -> bool:
        return entry.to == "all" or p.moderator or p.claims.identity == entry.identity

    @handles(ChatSend)
    async def send(self, p: Participant, message: ChatSend) -> Message | None:
        limits = self.room.hub.settings.interaction
        if not may_post(p):
            raise PermissionDenied("this participant may read the chat but not post")
        if not self.enabled and not p.moderator:
            raise ProtocolError(ErrorCode.CHAT_DISABLED, "the teacher has switched chat off")
        text = message.text.strip()
        if not text:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "an empty message")
        if len(text) > limits.chat_max_chars:
            raise ProtocolError(
                ErrorCode.TOO_LONG,
                f"chat messages are limited to {limits.chat_max_chars} characters",
            )
        bucket = self._buckets.setdefault(p.id, TokenBucket(limits.chat_rate, limits.chat_burst))
        if not bucket.take():
            # Counted (metrics), not logged: a flood must not fill the lesson's log.
            self.room.emit("chat.rate_limited", p, {}, log=False)
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many chat messages: slow down")
        entry = ChatEntry(
            id=f"CM_{uuid.uuid4().hex[:12]}",
            participant_id=p.id,
            identity=p.claims.identity,
            name=p.claims.name,
            role=p.claims.role.value,
            to=message.to,
            text=text,
            at=datetime.now(UTC),
        )
        self.history.append(entry)
        self._ids.add(entry.id)
        for reader in self._readers(entry):
            if reader is not p:
                reader.peer.send(ChatMessage(message=entry))
        self.room.emit(
            "chat.message",
            p,
            {
                "message_id": entry.id,
                "to": entry.to,
                "text": entry.text,
                "name": entry.name,
                "classroom_id": p.claims.classroom_id,
                "hidden": p.hidden,
            },
        )
        return ChatMessage(message=entry)

    @handles(ChatDelete)
    async def delete(self, p: Participant, message: ChatDelete) -> Message | None:
        if not p.moderator:
            raise PermissionDenied("deleting chat messages needs the moderate grant")
        if message.message_id not in self._ids:
            raise NotFound(f"no chat message {message.message_id}")
        self._ids.discard(message.message_id)
        self.history = deque(
            (e for e in self.history if e.id != message.message_id), maxlen=self.history.maxlen
        )
        self.room.broadcast(ChatDeleted(message_id=message.message_id, by=p.id))
        self.room.emit("chat.deleted", p, {"message_id": message.message_id})
        return None

    @handles(ChatEnable)
    async def enable(self, p: Participant, message: ChatEnable) -> Message | None:
        if not p.moderator:
            raise PermissionDenied("switching chat needs the moderate grant")
        if self.enabled != message.enabled:
            self.enabled = message.enabled
            self.room.broadcast(ChatState(enabled=self.enabled))
            self.room.emit("chat.enabled", p, {"enabled": self.enabled})
        return None

    async def on_join(self, p: Participant) -> None:
        """The first joiner of a (re)opened lesson room brings the stored history back.

        A room closes when everyone has left (a teacher's network drop can do that);
        the lesson's chat must survive it. One query per room, not per joiner.
        """
        if self._restored:
            return
        self._restored = True
        db, lesson_id = self.room.hub.db, self.room.lesson_id
        if db is None or lesson_id is None or self.history.maxlen == 0:
            return
        try:
            rows = await load_history(db, lesson_id, self.history.maxlen or 0)
        except Exception:  # an unmigrated or unreachable database: chat starts empty
            logger.warning("chat history of lesson %s not restored", lesson_id, exc_info=True)
            return
        known = {e.id for e in self.history}
        restored = [e for e in rows if e.id not in known]
        self.history = deque([*restored, *self.history], maxlen=self.history.maxlen)
        self._ids.update(e.id for e in restored)

    def snapshot(self, p: Participant) -> list[Message]:
        history = [e for e in self.history if self._sees(p, e)]
        return [ChatState(enabled=self.enabled, history=history)]

    async def on_leave(self, p: Participant) -> None:
        self._buckets.pop(p.id, None)
