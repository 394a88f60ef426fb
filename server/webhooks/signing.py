"""The signature receivers check: HMAC-SHA256 over "<timestamp>.<body>".

Header `X-Tongbu-Signature: t=<unix seconds>,v1=<hex digest>`. The timestamp is
inside the signed bytes so a captured request cannot be replayed later with a
new date; receivers should refuse timestamps older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tongbu-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (and what the tests use): check the MAC and the age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), parts.get("v1", ""))
