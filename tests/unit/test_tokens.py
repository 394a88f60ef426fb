import time

import jwt
import pytest

from server.errors import TokenExpired, Unauthenticated
from server.tokens import (
    RoomRole,
    TokenType,
    decode,
    encode,
    issue_room_token,
    verify_room_token,
)

SECRET = "s" * 40


def test_room_token_round_trips_grants() -> None:
    tok = issue_room_token(SECRET, room="lesson-1", identity="t1", role=RoomRole.TEACHER, ttl=60)
    claims = verify_room_token(SECRET, tok)
    assert claims.room == "lesson-1"
    assert claims.grants.publish and claims.grants.moderate and not claims.grants.hidden


def test_evaluator_token_is_hidden_and_cannot_publish() -> None:
    tok = issue_room_token(SECRET, room="r", identity="e", role=RoomRole.EVALUATOR, ttl=60)
    g = verify_room_token(SECRET, tok).grants
    assert g.hidden and not g.publish


def test_expired_token_raises_token_expired() -> None:
    payload = {"typ": "room", "exp": int(time.time()) - 5, "room": "r"}
    tok = jwt.encode(payload, SECRET, algorithm="HS256")
    with pytest.raises(TokenExpired):
        verify_room_token(SECRET, tok)


def test_forged_token_is_rejected() -> None:
    tok = issue_room_token("x" * 40, room="r", identity="e", role=RoomRole.TEACHER, ttl=60)
    with pytest.raises(Unauthenticated):
        verify_room_token(SECRET, tok)


def test_access_token_cannot_be_used_as_room_token() -> None:
    tok = encode(SECRET, TokenType.ACCESS, {"sub": "1"}, 60)
    with pytest.raises(Unauthenticated):
        decode(SECRET, tok, TokenType.ROOM)
