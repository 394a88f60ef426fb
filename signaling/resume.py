"""Resume: a participant whose connection drops keeps its place for a grace period.

Why: a village classroom's link drops (a cut, a flaky 4G router) and the lesson
must go on without anyone touching a button. When a session ends because the
socket vanished (``disconnected``) or its peer connection failed
(``transport_failed``), the room keeps the participant — its id, floor
position, subscriptions, publications — marks it ``reconnecting`` (the others
get ``participant_updated``, not ``participant_left``) and starts a timer of
``signaling.resume_grace`` seconds; when it runs out, it is a normal leave.

The client comes back with ``join`` carrying its room token and the
``resume_token`` of its last ``joined``:

- the token is a ``resume`` JWT (server.tokens) naming the room, the
  participant and a nonce; only the latest nonce of a participant is valid,
  so each token works once (a copied token is refused once its owner resumed)
  and only together with a room token of the same identity and room;
- attempts per participant are limited (``resume_attempts_per_minute``), so a
  client stuck in a reconnect loop cannot flood the room;
- the session is rebound to the kept participant. Its peer connections may
  still be up (only the socket dropped): media never stopped, and an offer that
  went to the dead socket is sent again. With ``restart_media`` (the client's
  peer connections failed too: aiortc cannot restart ICE on a live
  connection) the transports are closed, a new recv transport is offered with
  the same subscriptions and the client publishes again.

A client that resumes with ``restart_media`` and never answers the new offer
is closed by the renegotiator's answer timeout like any other, and then is a
normal leave.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.errors import TokenExpired, Unauthenticated
from server.settings import Settings
from server.tokens import RoomClaims, TokenType, decode, encode
from signaling.protocol import CloseReason, ErrorCode, ParticipantUpdated, ProtocolError

if TYPE_CHECKING:
    from signaling.rooms import Participant, Peer, Room, RoomHub

logger = logging.getLogger("tongbu.signaling.resume")

RESUMABLE = (CloseReason.DISCONNECTED, CloseReason.TRANSPORT_FAILED)


class ServerRestarted(Exception):
    """A valid resume token for a participant this process never had: the server restarted.

    The session joins it afresh under the same participant id (rooms are rebuilt from the
    classrooms coming back); the client sees `resumed: false` and publishes again.
    """

    def __init__(self, participant_id: str) -> None:
        super().__init__(participant_id)
        self.participant_id = participant_id


@dataclass
class _Kept:
    room: Room
    participant: Participant
    since: float
    timer: asyncio.Task[Any] | None = None


class ResumeBook:
    """Per hub: kept places, the current resume nonce per participant, attempt counters."""

    def __init__(self, hub: RoomHub, settings: Settings) -> None:
        self.hub = hub
        self.settings = settings
        self._kept: dict[str, _Kept] = {}
        self._nonce: dict[str, str] = {}
        self._attempts: dict[str, deque[float]] = {}
        # Participants that left or whose grace ran out in this process: their tokens are dead.
        # A token naming a participant this process never knew comes from before a restart.
        self._retired: set[str] = set()

    @property
    def grace(self) -> float:
        return float(self.settings.signaling.resume_grace)

    def kept(self, participant_id: str) -> bool:
        return participant_id in self._kept

    # ------------------------------------------------------------ tokens

    def issue(self, room: Room, p: Participant) -> str | None:
        """A fresh single-use resume token for ``p`` (None when resume is off)."""
        if self.grace <= 0:
            return None
        nonce = uuid.uuid4().hex
        self._nonce[p.id] = nonce
        claims = {"room": room.id, "pid": p.id, "identity": p.claims.identity, "nonce": nonce}
        ttl = int(self.settings.auth.room_token_ttl + self.grace)
        return encode(self.settings.ensure_secret(), TokenType.RESUME, claims, ttl)

    def _check_rate(self, participant_id: str) -> None:
        now = time.monotonic()
        if len(self._attempts) > 10_000:  # bounded: drop windows with nothing in the last minute
            for pid in [k for k, w in self._attempts.items() if not w or w[-1] < now - 60.0]:
                del self._attempts[pid]
        window = self._attempts.setdefault(participant_id, deque())
        while window and window[0] < now - 60.0:
            window.popleft()
        if len(window) >= self.settings.signaling.resume_attempts_per_minute:
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many resume attempts: wait a minute")
        window.append(now)

    # ------------------------------------------------------------ dropping

    def drop(self, room: Room, p: Participant, reason: CloseReason) -> bool:
        """Keep ``p``'s place instead of leaving; False if it must leave now."""
        if (
            self.grace <= 0
            or reason not in RESUMABLE
            or p.id not in self._nonce
            or room.participants.get(p.id) is not p
            or room.closed
        ):
            return False
        kept = _Kept(room, p, time.monotonic())
        self._kept[p.id] = kept
        p.reconnecting = True
        if not p.hidden:
            room.broadcast(ParticipantUpdated(participant=room.info(p)), exclude=p)
        room.emit("participant.reconnecting", p, {"reason": reason.value})
        kept.timer = room.spawn(self._expire(kept))
        logger.info("participant %s reconnecting (%s), place kept %.0fs", p.id, reason, self.grace)
        return True

    async def _expire(self, kept: _Kept) -> None:
        await asyncio.sleep(self.grace)
        if self._kept.get(kept.participant.id) is not kept:
            return
        del self._kept[kept.participant.id]
        self.forget(kept.participant.id)
        kept.participant.reconnecting = False
        logger.info("participant %s did not come back: leaving", kept.participant.id)
        await self.hub.leave(kept.room, kept.participant, CloseReason.DISCONNECTED)

    def forget(self, participant_id: str) -> None:
        """The participant left for good: its token is void."""
        self._nonce.pop(participant_id, None)  # (its attempt counter stays: floods go on)
        self._retired.add(participant_id)
        kept = self._kept.pop(participant_id, None)
        if kept is not None and kept.timer is not None and kept.timer is not asyncio.current_task():
            kept.timer.cancel()

    # ------------------------------------------------------------ taking back

    async def take(
        self, claims: RoomClaims, token: str, peer: Peer, restart_media: bool
    ) -> tuple[Room, Participant]:
        """Rebind a kept (or still-connected, half-open) participant to ``peer``."""
        async with self.hub._lock:  # never races a leave or the room closing
            return await self._take(claims, token, peer, restart_media)

    async def _take(
        self, claims: RoomClaims, token: str, peer: Peer, restart_media: bool
    ) -> tuple[Room, Participant]:
        payload = decode(self.settings.ensure_secret(), token, TokenType.RESUME)
        pid = str(payload.get("pid", ""))
        self._check_rate(pid)
        if payload.get("identity") != claims.identity or payload.get("room") != claims.room:
            raise Unauthenticated("this resume token belongs to another participant")
        room = self.hub.rooms.get(claims.room)
        p = room.participants.get(pid) if room is not None else None
        if p is None and pid not in self._retired and pid not in self._nonce:
            raise ServerRestarted(pid)  # rebuilt by the caller under the same id
        if self._nonce.get(pid) != payload.get("nonce"):
            raise Unauthenticated("this resume token was already used or revoked")
        if room is None or p is None:
            self.forget(pid)
            raise TokenExpired("the resume grace period is over: join again")
        kept = self._kept.pop(pid, None)
        if kept is not None and kept.timer is not None:
            kept.timer.cancel()
        old = p.peer
        p.peer = peer
        if kept is None and old is not peer:
            # the old socket is half-open (the server did not notice the drop yet)
            old.close(CloseReason.DUPLICATE_IDENTITY, "resumed on another connection")
        p.reconnecting = False
        self._nonce.pop(pid, None)  # single use: `issue` makes the next one
        if not p.hidden:
            room.broadcast(ParticipantUpdated(participant=room.info(p)), exclude=p)
        room.emit("participant.resumed", p, {"restart_media": restart_media})
        if restart_media:
            await self._restart_media(room, p)
        elif p.negotiator is not None:
            p.negotiator.resend()
        return room, p

    async def _restart_media(self, room: Room, p: Participant) -> None:
        """Close the participant's transports; subscriptions come back on a new one."""
        for transport in (p.send_transport, p.recv_transport):
            if transport is not None:
                await transport.close("media_restart")
        for producer_id in list(p.producers):
            room._producer_gone(producer_id)
        p.producers.clear()
        p.subscriptions.clear()
        p.send_transport = None
        p.recv_transport = None
        p.negotiator = None
        if p.claims.grants.subscribe:
            room.open_recv_transport(p)
