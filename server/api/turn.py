"""Short-lived TURN credentials (the TURN REST API scheme coturn implements).

Why: a classroom whose network blocks UDP (school firewalls often do) reaches
the SFU only through a TURN relay over TCP or TLS. Long-lived TURN passwords in
a client would be an open relay for anyone who reads them; instead the server
shares a secret with coturn (`use-auth-secret` + `static-auth-secret`) and
hands each participant a credential that expires:

    username = "<unix expiry>:<identity>"
    password = base64(HMAC-SHA1(secret, username))

coturn recomputes the password from the username and refuses it after the
expiry (draft-uberti-behave-turn-rest-00). The server issues them in the
lesson join response and in the `joined` message (`ice_servers`), next to any
static servers of `settings.media.ice_servers`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

from server.settings import IceServer, Settings

_IDENTITY = re.compile(r"[^A-Za-z0-9_.@-]")


def turn_credential(secret: str, identity: str, ttl: int, now: float | None = None) -> IceServer:
    """One TURN REST credential (no URLs yet) valid for ``ttl`` seconds from ``now``."""
    expiry = int((time.time() if now is None else now) + ttl)
    # ':' separates expiry and identity in coturn's parser: keep the identity plain
    username = f"{expiry}:{_IDENTITY.sub('_', identity)[:64]}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return IceServer(urls=[], username=username, credential=base64.b64encode(digest).decode())


def ice_servers_for(settings: Settings, identity: str) -> list[IceServer]:
    """Static ICE servers plus, when TURN is configured, a fresh credential for ``identity``."""
    servers = list(settings.media.ice_servers)
    turn = settings.media.turn
    if turn.urls and turn.secret:
        credential = turn_credential(turn.secret, identity, turn.ttl)
        servers.append(credential.model_copy(update={"urls": list(turn.urls)}))
    return servers


def ice_servers_payload(settings: Settings, identity: str) -> list[dict[str, Any]]:
    return [s.model_dump(exclude_none=True) for s in ice_servers_for(settings, identity)]
