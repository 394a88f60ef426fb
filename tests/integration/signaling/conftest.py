"""A real uvicorn server on 127.0.0.1 (random port) built by `create_app`, and token helpers."""

from __future__ import annotations

import asyncio
import gc
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings
from server.tokens import RoomGrants, RoomRole, issue_room_token
from tests.conftest import require


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s 320x240 VP8 + Opus WebM (keyframe every second) made once per session."""
    if shutil.which("ffmpeg") is None:
        require(False, "ffmpeg")
    path = tmp_path_factory.mktemp("media") / "clip.webm"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=15",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "2",
            "-c:v",
            "libvpx",
            "-b:v",
            "300k",
            "-g",
            "15",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            str(path),
        ],
        check=True,
    )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    app: FastAPI
    settings: Settings
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Shut uvicorn down (lifespan shutdown included); idempotent."""
        self.server.should_exit = True
        await asyncio.wait_for(asyncio.shield(self.task), 15)

    def token(
        self,
        identity: str,
        role: RoomRole = RoomRole.CLASSROOM,
        *,
        room: str = "lesson-1",
        grants: RoomGrants | None = None,
    ) -> str:
        return issue_room_token(
            self.settings.ensure_secret(),
            room=room,
            identity=identity,
            role=role,
            ttl=600,
            name=identity,
            grants=grants,
        )

    @property
    def hub(self) -> Any:
        return self.app.state.hub


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """uvicorn serving `create_app(settings)` in this event loop, shut down after the test."""
    settings.signaling.join_timeout = 3.0
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveServer(app, settings, f"ws://127.0.0.1:{port}/ws", server, task)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        gc.collect()
