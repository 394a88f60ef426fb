"""Serve one Tongbu app on several host addresses (loopback + each school's veth).

The server of a village run sits on the host; each school reaches it through
its own veth address. Binding exactly those addresses (one port for all)
keeps the server off every other interface of a shared machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from server.tokens import RoomGrants, RoomRole, issue_room_token


def _bind(addresses: Sequence[str]) -> tuple[int, list[socket.socket]]:
    """Sockets on one free port for every address (retry if the port is taken on one)."""
    for _ in range(20):
        first = socket.socket()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind((addresses[0], 0))
        port = int(first.getsockname()[1])
        sockets = [first]
        try:
            for address in addresses[1:]:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((address, port))
                sockets.append(s)
        except OSError:
            for s in sockets:
                s.close()
            continue
        return port, sockets
    raise RuntimeError("no common free port")


@dataclass
class Served:
    app: FastAPI
    settings: Settings
    port: int
    server: uvicorn.Server

    def url(self, address: str = "127.0.0.1") -> str:
        return f"ws://{address}:{self.port}/ws"

    def token(
        self,
        identity: str,
        role: RoomRole = RoomRole.CLASSROOM,
        *,
        room: str = "village-1",
        grants: RoomGrants | None = None,
        ttl: int = 600,
    ) -> str:
        return issue_room_token(
            self.settings.ensure_secret(),
            room=room,
            identity=identity,
            role=role,
            ttl=ttl,
            name=identity,
            grants=grants,
        )

    @property
    def hub(self) -> Any:
        return self.app.state.hub


@contextlib.asynccontextmanager
async def serve(settings: Settings, addresses: Sequence[str]) -> AsyncIterator[Served]:
    """uvicorn in this event loop on ``addresses``; shut down (lifespan too) on exit."""
    app = create_app(settings)
    port, sockets = _bind(["127.0.0.1", *[a for a in addresses if a != "127.0.0.1"]])
    for s in sockets:
        s.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=sockets))
    for _ in range(300):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        task.cancel()
        raise RuntimeError("uvicorn did not start")
    try:
        yield Served(app, settings, port, server)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        for s in sockets:
            s.close()
