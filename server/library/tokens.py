"""Short-lived media URLs: `/api/library/media/<token>/<file>`.

Why a token in the path: the `<img>` of a thumbnail and the HLS segments the
player fetches cannot carry the bearer header, and a query string would be lost
on the playlist's relative segment URLs. The token is signed with the server
secret, names one entry and expires (default 6 h); it is handed out only by
the entry endpoint, after the visibility check.
"""

from __future__ import annotations

import time

import jwt

from server.errors import TokenExpired, Unauthenticated

TYP = "library_media"


def issue(secret: str, entry_id: int, ttl: int) -> str:
    now = int(time.time())
    return jwt.encode({"typ": TYP, "entry": entry_id, "iat": now, "exp": now + ttl}, secret,
                      algorithm="HS256")


def verify(secret: str, token: str) -> int:
    """The entry id the token grants; a typed 401 otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("media link expired; reopen the entry") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid media link") from exc
    if claims.get("typ") != TYP or not isinstance(claims.get("entry"), int):
        raise Unauthenticated("invalid media link")
    return int(claims["entry"])
