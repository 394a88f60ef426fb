"""Signed tokens (JWT, HS256): access, refresh, device and room tokens.

A room token carries everything the signaling and media layers need (room,
identity, role, grants), so neither queries the database on the hot path, as
LiveKit's access tokens do. Every token has a `typ` so one kind can never be
used as another, and an `exp`.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal

import jwt
from pydantic import BaseModel, Field

from server.errors import TokenExpired, Unauthenticated


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    DEVICE = "device"
    ROOM = "room"
    RESUME = "resume"


class RoomRole(StrEnum):
    """What a participant is in a room; decides the default grants."""

    TEACHER = "teacher"  # main classroom / host
    CLASSROOM = "classroom"  # receiving classroom device
    EVALUATOR = "evaluator"  # hidden observer that scores
    OBSERVER = "observer"  # admin patrol (巡课), hidden
    RESEARCHER = "researcher"  # 教研 participant
    RECORDER = "recorder"  # the recorder process, hidden subscriber
    PARTICIPANT = "participant"  # 同步视讯 meeting attendee (publishes when given the floor)


class RoomGrants(BaseModel):
    """What the holder may do in the room."""

    publish: bool = False
    subscribe: bool = True
    hidden: bool = False
    # May grant/revoke the floor, mute others, end the lesson.
    moderate: bool = False
    # May post in the room's chat; None = by visibility (hidden participants read only).
    chat: bool | None = None


class RoomClaims(BaseModel):
    """The payload of a room token once verified."""

    room: str
    identity: str
    name: str = ""
    role: RoomRole
    grants: RoomGrants = Field(default_factory=RoomGrants)
    classroom_id: int | None = None
    user_id: int | None = None
    # What kind of room: a lesson, a 同步教研 research session or a 同步视讯 meeting.
    kind: Literal["lesson", "research", "meeting"] = "lesson"
    exp: int
    jti: str


def default_grants(role: RoomRole) -> RoomGrants:
    if role is RoomRole.TEACHER:
        return RoomGrants(publish=True, subscribe=True, moderate=True)
    if role in (RoomRole.CLASSROOM, RoomRole.RESEARCHER, RoomRole.PARTICIPANT):
        # A classroom publishes too, but its media only goes out while it has the floor.
        return RoomGrants(publish=True, subscribe=True)
    return RoomGrants(publish=False, subscribe=True, hidden=True)


def encode(
    secret: str, typ: TokenType, claims: dict[str, Any], ttl: int, alg: str = "HS256"
) -> str:
    now = int(time.time())
    payload = {**claims, "typ": typ.value, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, secret, algorithm=alg)


def decode(secret: str, token: str, typ: TokenType, alg: str = "HS256") -> dict[str, Any]:
    """Verify signature, expiry and type; raise a typed auth error otherwise."""
    try:
        payload: dict[str, Any] = jwt.decode(token, secret, algorithms=[alg])
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid token") from exc
    if payload.get("typ") != typ.value:
        raise Unauthenticated(f"expected a {typ.value} token")
    return payload


def issue_room_token(
    secret: str,
    *,
    room: str,
    identity: str,
    role: RoomRole,
    ttl: int,
    name: str = "",
    grants: RoomGrants | None = None,
    classroom_id: int | None = None,
    user_id: int | None = None,
    kind: Literal["lesson", "research", "meeting"] = "lesson",
) -> str:
    claims = {
        "room": room,
        "identity": identity,
        "name": name,
        "role": role.value,
        "grants": (grants or default_grants(role)).model_dump(),
        "classroom_id": classroom_id,
        "user_id": user_id,
        "kind": kind,
    }
    return encode(secret, TokenType.ROOM, claims, ttl)


def verify_room_token(secret: str, token: str) -> RoomClaims:
    return RoomClaims.model_validate(decode(secret, token, TokenType.ROOM))
