"""Short-lived page URLs: `/api/courseware/pages/<token>/<n>.jpg`.

Why a token in the path: an `<img>` cannot send the bearer header, and the
classroom device shows pages it learned about over signaling. The token is
signed with the server secret, names one document and expires; it is handed
out only after a scope check (the REST document endpoint) or to participants
of a room the document is attached to (the courseware feature).
"""

from __future__ import annotations

import time

import jwt

from server.errors import TokenExpired, Unauthenticated

TYP = "courseware_page"


def issue(secret: str, document_id: int, ttl: int) -> str:
    now = int(time.time())
    claims = {"typ": TYP, "doc": document_id, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str) -> int:
    """The document id the token grants; a typed 401 otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("page link expired; reopen the document") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid page link") from exc
    if claims.get("typ") != TYP or not isinstance(claims.get("doc"), int):
        raise Unauthenticated("invalid page link")
    return int(claims["doc"])


def page_urls(secret: str, document_id: int, page_count: int, ttl: int) -> list[str]:
    token = issue(secret, document_id, ttl)
    return [f"/api/courseware/pages/{token}/{n}.jpg" for n in range(1, page_count + 1)]
