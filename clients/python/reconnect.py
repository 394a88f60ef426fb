"""Reconnection for `TongbuClient`: take the place back after a dropped connection.

Why in the client library: a village classroom is a box on a wall; nobody is
there to press "reconnect". With `reconnect=True`, when the socket drops
without the server's `closed` (or the server closed it because the peer
connection failed), the client reconnects with exponential backoff and jitter
(0.25 s doubling to 5 s) and sends `join` with the `resume_token` of its last
`joined`, within the grace period the server announced:

- the peer connections still up (only the socket dropped): nothing else to do,
  media never stopped; an offer lost with the old socket is sent again;
- a peer connection failed or closed: `restart_media=True`; the client drops
  both peer connections, answers the server's new offer on a fresh one and
  publishes its tracks again.

If the server refuses the token (grace over, token reused) the client ends as
closed (`on_closed`), as before. `on_reconnecting()` / `on_resumed(joined)`
report the two transitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from aiortc.contrib.media import MediaRelay

from signaling.protocol import CloseReason, ErrorCode, Join, Joined

if TYPE_CHECKING:
    from clients.python.client import Handler

logger = logging.getLogger("tongbu.client.reconnect")

RESUMABLE: tuple[CloseReason | None, ...] = (
    None,
    CloseReason.DISCONNECTED,
    CloseReason.TRANSPORT_FAILED,
    CloseReason.SERVER_SHUTDOWN,  # a restarting server rebuilds the room from those who return
)


class Reconnecting:
    """Mixed into `TongbuClient` (which provides the wire, peer connections and events)."""

    reconnect: bool
    resume_token: str | None
    joined: Joined | None
    _closing: bool
    _resuming: bool
    _server_closed: CloseReason | None

    def _init_reconnect(self, reconnect: bool) -> None:
        self.reconnect = reconnect
        self.resume_token = None
        self.reconnects = 0  # successful resumes
        self.reconnect_attempts = 0
        self.is_reconnecting = False
        self._closing = False
        self._resuming = False
        self._server_closed = None
        self._on_reconnecting: list[Handler] = []
        self._on_resumed: list[Handler] = []
        self._relay = MediaRelay()  # published sources outlive their peer connections

    def on_reconnecting(self, handler: Handler) -> Handler:
        """`handler()` when the connection dropped and the client starts taking its place back."""
        self._on_reconnecting.append(handler)
        return handler

    def on_resumed(self, handler: Handler) -> Handler:
        """`handler(Joined)` once the place is taken back."""
        self._on_resumed.append(handler)
        return handler

    def _resumable(self, reason: CloseReason | None) -> bool:
        return (
            self.reconnect
            and not self._closing
            and self.resume_token is not None
            and reason in RESUMABLE
        )

    def _media_broken(self) -> bool:
        pcs = [getattr(self, "_send_pc", None), getattr(self, "_recv_pc", None)]
        return any(pc is not None and pc.connectionState in ("failed", "closed") for pc in pcs)

    def _start_resume(self) -> None:
        """Called by the read loop when the socket ended and the place can be taken back."""
        if self._resuming:
            return
        self._resuming = True
        self.is_reconnecting = True
        client: Any = self
        client._fail_pending(None)
        client._emit(self._on_reconnecting)
        client._spawn(self._resume())

    async def _resume(self) -> None:
        client: Any = self
        restart = self._server_closed is CloseReason.TRANSPORT_FAILED or self._media_broken()
        self._server_closed = None
        grace = self.joined.resume_grace if self.joined is not None else 0.0
        deadline = time.monotonic() + max(grace, 1.0)
        delay = 0.25
        try:
            while not self._closing:
                self.reconnect_attempts += 1
                try:
                    # no offer is answered on the old peer connection while we learn
                    # whether the server still had our place (`joined.resumed`)
                    async with client._offer_lock:
                        await client.connect()
                        joined = await client.request(
                            Join(
                                token=client.token,
                                auto_subscribe=client.auto_subscribe,
                                resume_token=self.resume_token,
                                restart_media=restart,
                            ),
                            Joined,
                        )
                        specs = self._reset_media() if restart or not joined.resumed else None
                except Exception as exc:
                    code = getattr(exc, "code", None)
                    if code in (ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED):
                        logger.warning("resume refused: %s", exc)
                        break
                    if time.monotonic() + delay > deadline:
                        logger.warning("could not reconnect within the grace period: %s", exc)
                        break
                    await self._drop_socket()
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 5.0)
                    continue
                client._apply_joined(joined)
                if specs is not None:
                    # new peer connections: the server offers again; publish again
                    await self._close_old_pcs()
                    if specs:
                        await client.publish(specs)
                self.reconnects += 1
                self.is_reconnecting = False
                self._resuming = False
                client._emit(self._on_resumed, joined)
                return
        finally:
            if self._resuming:
                self._resuming = False
                self.is_reconnecting = False
                if not self._closing:
                    client._finish(None, "could not resume")

    async def _drop_socket(self) -> None:
        client: Any = self
        ws = client._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        reader = client._reader
        if reader is not None and reader is not asyncio.current_task():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(reader, 2)

    def _reset_media(self) -> list[Any]:
        """Forget both peer connections (closed later); returns the tracks to publish again."""
        client: Any = self
        self._old_pcs = [pc for pc in (client._send_pc, client._recv_pc) if pc is not None]
        client._send_pc = None
        client._recv_pc = None
        for inbound in client._inbound.values():
            if inbound.tap is not None:
                inbound.tap.detach()
        client._inbound.clear()
        specs = [spec for _, spec in client._send_tracks]
        client._send_tracks = []
        client.published.clear()
        return specs

    async def _close_old_pcs(self) -> None:
        for pc in getattr(self, "_old_pcs", []):
            with contextlib.suppress(Exception):
                await pc.close()
        self._old_pcs = []
