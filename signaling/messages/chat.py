"""Chat per room (聊天): to everyone or to the moderators only, with moderation.

Limits (settings.interaction): characters per message (`too_long`), a token
bucket per participant (`rate_limited`), the moderator's switch
(`chat_disabled`). Hidden participants (evaluators) read public chat but may
post only with the token's `chat` grant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from signaling.wire import _ID, Message

ChatTarget = Literal["all", "moderators"]


class ChatSend(Message):
    """Post a message; the reply is the stored `chat_message` (with its id)."""

    type: Literal["chat_send"] = "chat_send"
    # The hard cap of the wire; the room's own limit (default 500) is checked on top.
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    to: ChatTarget = "all"


class ChatDelete(Message):
    """Moderator removes a message: every copy disappears (`chat_deleted`)."""

    type: Literal["chat_delete"] = "chat_delete"
    message_id: _ID


class ChatEnable(Message):
    """Moderator switches chat on or off for everyone but the moderators."""

    type: Literal["chat_enable"] = "chat_enable"
    enabled: bool


class ChatEntry(BaseModel):
    id: str
    participant_id: str
    identity: str
    name: str = ""
    role: str
    to: ChatTarget = "all"
    text: str
    at: datetime


class ChatMessage(Message):
    """A message for this participant (its reply to `chat_send` carries the request id)."""

    type: Literal["chat_message"] = "chat_message"
    message: ChatEntry


class ChatDeleted(Message):
    type: Literal["chat_deleted"] = "chat_deleted"
    message_id: str
    by: str


class ChatState(Message):
    """Chat on/off; sent after `joined` with the history a late joiner may read."""

    type: Literal["chat_state"] = "chat_state"
    enabled: bool
    history: list[ChatEntry] | None = None


Client = ChatSend | ChatDelete | ChatEnable
Server = ChatMessage | ChatDeleted | ChatState
