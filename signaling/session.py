"""One WebSocket connection: join handshake, limits, dispatch, orderly close.

The session is the edge (LiveKit's `service` layer): it turns frames into typed
messages, enforces the size limit, the rate limit and the join timeout, maps
domain errors to wire error codes in one place, and calls the `Room` for
everything else. Outgoing messages go through a bounded queue drained by one
writer task, so a room broadcasting to a client that does not read never blocks
the room; a client that falls that far behind is closed (`slow_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.api.turn import ice_servers_for
from server.errors import (
    BadRequest,
    InvalidState,
    NotFound,
    PermissionDenied,
    TokenExpired,
    TongbuError,
    Unauthenticated,
    Unsupported,
)
from server.settings import Settings
from server.tokens import verify_room_token
from signaling import features as room_features
from signaling.floor import FloorFull
from signaling.protocol import (
    CLOSE_CODES,
    Answer,
    ClientMessage,
    Closed,
    CloseReason,
    ErrorCode,
    FloorGrant,
    FloorRequest,
    FloorRevoke,
    Ice,
    IceServerInfo,
    Join,
    Joined,
    LayerPreference,
    Leave,
    Mute,
    Ok,
    Ping,
    Pong,
    ProtocolError,
    Publish,
    PublishAnswer,
    Stats,
    StatsRequest,
    Subscribe,
    Subscribed,
    Unpublish,
    Unsubscribe,
    _Message,
    dump,
    parse_client_message,
)
from signaling.resume import ServerRestarted
from signaling.rooms import Participant, Room, RoomHub

logger = logging.getLogger("tongbu.signaling")

OUTBOX_LIMIT = 1024


class _Sent:
    """Returned by a handler that queued its reply itself (ordering matters there)."""


_SENT = _Sent()

# Domain errors -> wire codes, in one place (CONVENTIONS: "mapped in one place").
_ERROR_CODES: list[tuple[type[TongbuError], ErrorCode]] = [
    (FloorFull, ErrorCode.LIMIT_REACHED),
    (TokenExpired, ErrorCode.TOKEN_EXPIRED),
    (Unauthenticated, ErrorCode.UNAUTHENTICATED),
    (PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (NotFound, ErrorCode.NOT_FOUND),
    (InvalidState, ErrorCode.INVALID_STATE),
    (BadRequest, ErrorCode.BAD_SDP),  # media raises it only for SDP / ICE candidates
    (Unsupported, ErrorCode.UNSUPPORTED),
]


def error_code(exc: TongbuError) -> ErrorCode:
    for cls, code in _ERROR_CODES:
        if isinstance(exc, cls):
            return code
    return ErrorCode.INTERNAL_ERROR


class RateLimiter:
    """Token bucket: `rate` messages per second, bursts of up to two seconds' worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Session:
    """Lifecycle: new -> joined -> closing -> closed (never reused)."""

    def __init__(self, websocket: WebSocket, hub: RoomHub, settings: Settings) -> None:
        self.ws = websocket
        self.hub = hub
        self.settings = settings
        self.room: Room | None = None
        self.participant: Participant | None = None
        self.close_reason: CloseReason | None = None
        self._close_message = ""
        self._closing = asyncio.Event()
        self._outbox: asyncio.Queue[_Message | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._limiter = RateLimiter(settings.signaling.max_messages_per_second)
        self._dropped_in_row = 0
        self.done = asyncio.Event()
        # WebSocket close code of the client's side: 1000/1001 mean it left on purpose,
        # anything else (1006: no close frame) is a dropped link and may be resumed.
        self.disconnect_code: int | None = None

    # ------------------------------------------------------------ Peer protocol

    def send(self, message: _Message) -> None:
        if self.close_reason is not None:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.close(CloseReason.SLOW_CLIENT, "outgoing queue full")

    def close(self, reason: CloseReason, message: str = "") -> None:
        """Ask the session to end; idempotent, the first reason wins."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._close_message = message
        self._closing.set()

    # ------------------------------------------------------------ run

    async def run(self) -> None:
        await self.ws.accept()
        self.hub.sessions.add(self)
        writer = asyncio.create_task(self._write_loop(), name="signaling-writer")
        reader = asyncio.create_task(self._read_loop(), name="signaling-reader")
        closing = asyncio.create_task(self._closing.wait())
        try:
            await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, closing):
                task.cancel()
            await asyncio.gather(reader, closing, return_exceptions=True)
            reason = self.close_reason or CloseReason.PROTOCOL_ERROR
            p = self.participant
            if self.room is not None and p is not None and p.peer is self:
                try:
                    # a dropped connection keeps its place for a while (signaling/resume.py)
                    on_purpose = self.disconnect_code in (1000, 1001)
                    if on_purpose or not self.hub.resume.drop(self.room, p, reason):
                        await self.hub.leave(self.room, p, reason)
                except Exception:
                    logger.exception("leaving room %s failed", self.room.id)
            # The closing message goes last; then the writer closes the socket.
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(Closed(reason=reason, message=self._close_message))
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 2.0)
            except (TimeoutError, asyncio.CancelledError, Exception):
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
            await self._close_socket(reason)
            self.hub.sessions.discard(self)
            self.done.set()

    async def _close_socket(self, reason: CloseReason) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(CLOSE_CODES[reason], reason.value)

    async def _write_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            try:
                await self.ws.send_text(dump(message))
            except Exception:
                # The peer is gone; the reader notices and the session ends.
                self.close(CloseReason.DISCONNECTED, "send failed")
                return
            if isinstance(message, Closed):
                return

    async def _receive(self) -> str | None:
        """One text frame, or None after a disconnect; enforces the size limit."""
        event = await self.ws.receive()
        if event["type"] == "websocket.disconnect":
            self.disconnect_code = event.get("code")
            return None
        text = event.get("text")
        raw = text if text is not None else (event.get("bytes") or b"").decode("utf-8", "replace")
        limit = self.settings.signaling.max_message_bytes
        if len(raw) > limit or len(raw.encode()) > limit:
            self.close(CloseReason.MESSAGE_TOO_LARGE, f"messages are limited to {limit} bytes")
            return None
        return raw

    async def _read_loop(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.signaling.join_timeout
        try:
            while self.participant is None:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    raw = await asyncio.wait_for(self._receive(), max(remaining, 0))
                except TimeoutError:
                    self.close(CloseReason.JOIN_TIMEOUT, "no join in time")
                    return
                if raw is None:
                    self.close(CloseReason.DISCONNECTED)
                    return
                if self._rate_limited():
                    continue
                await self._handle(raw)
            while True:
                raw = await self._receive()
                if raw is None:
                    self.close(CloseReason.DISCONNECTED)
                    return
                if self._rate_limited():
                    continue
                await self._handle(raw)
                if self.close_reason is not None:
                    return
        except WebSocketDisconnect as exc:
            self.disconnect_code = exc.code
            self.close(CloseReason.DISCONNECTED)

    def _rate_limited(self) -> bool:
        if self._limiter.allow():
            self._dropped_in_row = 0
            return False
        self._dropped_in_row += 1
        if self._dropped_in_row > self._limiter.capacity:
            self.close(CloseReason.RATE_LIMITED, "too many messages")
        elif self._dropped_in_row == 1:
            # One error per burst: replying to every dropped message would double the flood.
            self.send(
                ProtocolError(ErrorCode.RATE_LIMITED, "message dropped: slow down").to_message()
            )
        return True

    async def _handle(self, raw: str) -> None:
        request_id: str | None = None
        try:
            message = parse_client_message(raw)
            request_id = message.id
            reply = await self._dispatch(message)
            if isinstance(reply, _Sent):
                return
            if reply is None and request_id is not None:
                reply = Ok()
            if reply is not None:
                reply.id = request_id
                self.send(reply)
        except ProtocolError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            self.send(exc.to_message())
        except TongbuError as exc:
            code = error_code(exc)
            self.send(ProtocolError(code, exc.message, request_id).to_message())
            if code in (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED):
                self.close(CloseReason.UNAUTHENTICATED, exc.message)
        except Exception as exc:
            logger.exception("signaling handler failed")
            self.send(
                ProtocolError(ErrorCode.INTERNAL_ERROR, type(exc).__name__, request_id).to_message()
            )

    # ------------------------------------------------------------ handlers

    async def _dispatch(self, message: ClientMessage) -> _Message | _Sent | None:
        if isinstance(message, Join):
            return await self._join(message)
        if isinstance(message, Ping):
            return Pong()
        room, p = self.room, self.participant
        if room is None or p is None:
            raise ProtocolError(ErrorCode.NOT_JOINED, "send join first", message.id)
        match message:
            case Leave():
                if message.id is not None:
                    self.send(Ok(id=message.id))
                self.close(CloseReason.CLIENT_LEAVE)
                return _SENT
            case Publish(sdp=sdp, tracks=tracks):
                answer, producers = await room.publish(p, sdp, tracks)
                return PublishAnswer(sdp=answer, producers=producers)
            case Unpublish(producer_id=producer_id):
                await room.unpublish(p, producer_id)
            case Subscribe(producer_id=producer_id, layer=layer):
                consumer = await room.subscribe(p, producer_id, layer)
                return Subscribed(consumer_id=consumer.id, producer_id=producer_id)
            case Unsubscribe(producer_id=producer_id):
                await room.unsubscribe(p, producer_id)
            case Answer(sdp=sdp):
                if p.negotiator is None:
                    raise InvalidState("no recv transport (no subscribe grant)")
                await p.negotiator.on_answer(sdp)
            case Ice(transport=direction):
                transport = p.send_transport if direction == "send" else p.recv_transport
                if transport is None:
                    raise InvalidState(f"no {direction} transport yet")
                await transport.add_ice_candidate(
                    message.candidate, message.sdpMid, message.sdpMLineIndex
                )
            case FloorRequest(cancel=cancel):
                await room.request_floor(p, cancel)
            case FloorGrant(participant_id=target, seconds=seconds):
                await room.grant_floor(p, target, seconds)
            case FloorRevoke(participant_id=target):
                await room.revoke_floor(p, target)
            case Mute(participant_id=target, kind=kind, muted=muted):
                await room.mute(p, target, kind, muted)
            case LayerPreference(consumer_id=cid, producer_id=pid, layer=layer):
                room.set_layer(p, cid, pid, layer)
            case StatsRequest(scope=scope):
                mine, theirs, room_stats = room.stats(p, scope)
                return Stats(producers=mine, consumers=theirs, room=room_stats)
            case _:
                return await room_features.dispatch(room, p, message)
        return None

    async def _join(self, message: Join) -> _Sent:
        if self.participant is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "already joined", message.id)
        claims = verify_room_token(self.settings.ensure_secret(), message.token)
        took_back = message.resume_token is not None
        rebuild: str | None = None
        if message.resume_token is not None:
            try:
                room, p = await self.hub.resume.take(
                    claims, message.resume_token, self, message.restart_media
                )
                resumed = True
            except ServerRestarted as lost:
                rebuild, took_back = lost.participant_id, False
        if message.resume_token is None or rebuild is not None:
            room, p, resumed = await self.hub.join(
                claims, self, message.auto_subscribe, participant_id=rebuild
            )
        self.room, self.participant = room, p
        joined = Joined(
            id=message.id,
            participant_id=p.id,
            room=room.id,
            role=claims.role.value,
            hidden=p.hidden,
            participants=[room.info(o) for o in room.visible() if o is not p],
            producers=room.producers(),
            ice_servers=[
                IceServerInfo.model_validate(s.model_dump())
                for s in ice_servers_for(self.settings, claims.identity)  # + TURN credential
            ],
            floor=room.floor_state(),
            resume=resumed,
            resume_token=self.hub.resume.issue(room, p),
            resume_grace=self.hub.resume.grace,
            resumed=took_back,
        )
        # `joined` must precede the first `offer`: queue it, then the features'
        # catch-up messages (current page, open quiz), then start consuming.
        self.send(joined)
        for feature in room.features.values():
            for catch_up in feature.snapshot(p):
                self.send(catch_up)
        if not took_back or message.restart_media:
            room.start(p)  # (a plain resume keeps its consumers)
        return _SENT
