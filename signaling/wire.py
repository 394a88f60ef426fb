"""The wire basics every signaling message shares: version, base model, error codes.

Why a module of its own: feature messages (chat, quizzes, courseware, …) live in
`signaling.messages.*` and the core union in `signaling.protocol` lists them;
both import this module, so neither imports the other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1

# Upper bounds on string fields: the message size limit already bounds the total,
# these keep a single field from being abused (e.g. a 60 KB "participant_id").
_ID = Annotated[str, Field(min_length=1, max_length=128)]
_SDP = Annotated[str, Field(min_length=1, max_length=200_000)]

class ErrorCode(StrEnum):
    """Why a request failed. Stable strings: clients switch on them."""

    MALFORMED = "malformed"  # not JSON, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"  # `type` is missing or not a known message
    INVALID_MESSAGE = "invalid_message"  # known type, fields fail validation
    UNSUPPORTED_VERSION = "unsupported_version"  # `v` is not PROTOCOL_VERSION
    NOT_JOINED = "not_joined"  # anything but `join` before joining
    ALREADY_JOINED = "already_joined"
    UNAUTHENTICATED = "unauthenticated"  # bad token
    TOKEN_EXPIRED = "token_expired"
    PERMISSION_DENIED = "permission_denied"  # the token lacks the grant
    NOT_FOUND = "not_found"  # producer / participant / consumer unknown in this room
    INVALID_STATE = "invalid_state"  # e.g. `answer` with no offer outstanding
    BAD_SDP = "bad_sdp"  # the SDP or ICE candidate could not be applied
    UNSUPPORTED = "unsupported"  # e.g. a codec the SFU cannot forward
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    # Interaction (docs/interaction.md):
    LIMIT_REACHED = "limit_reached"  # e.g. free mode: N speakers already talk
    TOO_LONG = "too_long"  # a chat message beyond the room's character limit
    CHAT_DISABLED = "chat_disabled"  # the moderator switched chat off
    ALREADY_ANSWERED = "already_answered"  # a second quiz answer without `replace`
    QUIZ_CLOSED = "quiz_closed"  # an answer after the quiz closed


class CloseReason(StrEnum):
    """Why the server ended a session; sent in `closed` before the socket closes.

    Modelled on LiveKit's ParticipantCloseReason: the client can tell a kick
    from a timeout from a server restart and decide whether to reconnect.
    """

    CLIENT_LEAVE = "client_leave"
    DISCONNECTED = "disconnected"  # the socket dropped without `leave`
    JOIN_TIMEOUT = "join_timeout"
    UNAUTHENTICATED = "unauthenticated"
    MESSAGE_TOO_LARGE = "message_too_large"
    RATE_LIMITED = "rate_limited"
    DUPLICATE_IDENTITY = "duplicate_identity"  # the same identity joined again elsewhere
    TRANSPORT_FAILED = "transport_failed"  # a peer connection failed (ICE/DTLS)
    SLOW_CLIENT = "slow_client"  # the client does not read its messages
    ROOM_CLOSED = "room_closed"
    SERVER_SHUTDOWN = "server_shutdown"
    PROTOCOL_ERROR = "protocol_error"


# WebSocket close codes per reason (4000-4999 are for applications, RFC 6455 §7.4.2).
CLOSE_CODES: dict[CloseReason, int] = {
    CloseReason.CLIENT_LEAVE: 1000,
    CloseReason.DISCONNECTED: 1001,
    CloseReason.JOIN_TIMEOUT: 4008,
    CloseReason.UNAUTHENTICATED: 4001,
    CloseReason.MESSAGE_TOO_LARGE: 1009,
    CloseReason.RATE_LIMITED: 4029,
    CloseReason.DUPLICATE_IDENTITY: 4009,
    CloseReason.TRANSPORT_FAILED: 4010,
    CloseReason.SLOW_CLIENT: 4011,
    CloseReason.ROOM_CLOSED: 4012,
    CloseReason.SERVER_SHUTDOWN: 1001,
    CloseReason.PROTOCOL_ERROR: 1002,
}


class Message(BaseModel):
    """Fields every message has. Unknown fields are rejected: typos fail loudly."""

    model_config = ConfigDict(extra="forbid")

    v: int = PROTOCOL_VERSION
    id: _ID | None = None



_Message = Message  # the name the core modules grew up with


class Error(Message):
    """A request failed; `id` is the request's. The socket stays open."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str = ""


class ProtocolError(Exception):
    """A message that cannot be handled; becomes an `error` reply (the socket stays open)."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def to_message(self) -> Error:
        return Error(id=self.request_id, code=self.code, message=self.message)
