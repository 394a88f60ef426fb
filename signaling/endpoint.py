"""Installs `/ws`, `GET /api/protocol/schema` and the SFU's lifespan piece on the app.

Why here and not in server/app.py: the signaling edge owns its routes and the
objects behind them (the media `Worker`, the `RoomHub`); the app factory only
calls `install_signaling(app, settings)`. The worker is created in the
lifespan (no import-time state) and stored on `app.state`, so every app built
by `create_app` has its own SFU. Tests may set `app.state.media_worker_factory`
before startup to run the signaling layer on another worker implementation.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI, WebSocket

from server.settings import Settings
from signaling.features.metrics import InteractionMetrics
from signaling.features.store import InteractionStore
from signaling.lessonlog import LessonLog
from signaling.protocol import json_schema
from signaling.rooms import RoomHub
from signaling.session import Session


def _default_worker_factory(settings: Settings) -> Any:
    from media.worker import Worker

    return Worker(settings.media)


async def signaling_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Lifespan piece: start the media worker and the hub; close both on shutdown."""
    factory = getattr(app.state, "media_worker_factory", None) or _default_worker_factory
    worker = factory(settings)
    hub = RoomHub(worker, settings)
    app.state.worker = worker
    app.state.hub = hub
    db = getattr(app.state, "db", None)
    if db is not None:
        hub.db = db
        hub.observe(LessonLog(db))
        hub.observe(InteractionStore(db))
    _register_metrics(app, worker)
    if getattr(app.state, "metrics", None) is not None:
        hub.observe(InteractionMetrics(app.state.metrics))

    async def wait_sessions() -> None:
        pending = [s.done.wait() for s in list(hub.sessions)]
        if pending:
            await asyncio.gather(*pending)

    async def shutdown() -> None:
        await hub.close(wait_sessions)

    stack.push_async_callback(shutdown)


def _register_metrics(app: FastAPI, worker: Any) -> None:
    """Expose the SFU's counters through the app's Prometheus registry."""
    registry = getattr(app.state, "metrics", None)
    if registry is None:
        return
    try:
        from media.stats import MediaCollector
    except ImportError:
        # A worker implementation without the media package's collector (tests' fakes).
        return
    collector = MediaCollector(worker)
    registry.register(collector)
    app.state.media_collector = collector


def install_signaling(app: FastAPI, settings: Settings) -> None:
    app.state.components.append(signaling_component)

    @app.get("/api/protocol/schema", tags=["signaling"])
    async def protocol_schema() -> dict[str, Any]:
        """The JSON Schema of every `/ws` message, both directions."""
        return json_schema()

    @app.websocket("/ws")
    async def signaling_ws(websocket: WebSocket) -> None:
        hub: RoomHub = websocket.app.state.hub
        await Session(websocket, hub, settings).run()
