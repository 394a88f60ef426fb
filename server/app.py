"""The app factory: `create_app(settings)` builds one independent Tongbu server.

No module-level state: the lifespan owns the database engine, the SFU worker
and the signaling hub, and closes them in reverse order on shutdown. Tests
build as many apps as they like, each with its own settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from server.errors import install_error_handlers
from server.logging import configure_logging
from server.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_secret()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for component in app.state.components:
                await component(app, settings, stack)
            yield

    app = FastAPI(
        title="Tongbu",
        version="0.1.0",
        summary="Live-classroom server for the three classrooms (三个课堂).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = CollectorRegistry(auto_describe=True)
    # Async installers run in order at startup; each may push cleanups on the stack.
    app.state.components = []
    install_error_handlers(app)
    _install_parts(app, settings)
    return app


def _install_parts(app: FastAPI, settings: Settings) -> None:
    """Wire the packages in; each part owns its routes and its lifespan piece."""
    from server.api import install_api
    from server.api.web import install_web
    from signaling.endpoint import install_signaling

    install_api(app, settings)
    install_web(app, settings)
    install_signaling(app, settings)
