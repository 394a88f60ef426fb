"""Serves the static web clients (clients/web) from the app.

`install_web(app, settings)` mounts the directory at `/web/` and adds short
redirects (`/` → the login/home page, `/teacher` → `/web/teacher.html`, …),
so a classroom device can be given one short URL. Mounted under a prefix, not
at `/`, so it never shadows `/api`, `/ws` or `/metrics` whatever order the
parts are installed in.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.settings import Settings

logger = logging.getLogger("tongbu.web")

WEB_DIR = Path(__file__).resolve().parents[2] / "clients" / "web"
PAGES = ("teacher", "classroom", "evaluator", "admin", "devices", "dashboard", "patrol")


class _NoCacheStaticFiles(StaticFiles):
    """Static files that browsers revalidate: a deployed upgrade reaches the classroom TVs."""

    async def get_response(self, path: str, scope: Scope):  # type: ignore[override]
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def install_web(app: FastAPI, settings: Settings, directory: Path | None = None) -> None:
    web_dir = directory or WEB_DIR
    if not (web_dir / "index.html").is_file():
        # An install without the static files (e.g. a wheel that left them out)
        # still serves the API; say so loudly instead of failing to start.
        logger.warning("web clients not found in %s: / will not serve the pages", web_dir)
        return
    app.mount("/web", _NoCacheStaticFiles(directory=web_dir, html=True), name="web")

    @app.get("/", include_in_schema=False)
    async def _root() -> RedirectResponse:
        return RedirectResponse("/web/index.html", status_code=307)

    for page in PAGES:

        def _make(target: str):
            async def _redirect(request: Request) -> RedirectResponse:
                query = request.url.query
                return RedirectResponse(f"{target}?{query}" if query else target, status_code=307)

            return _redirect

        app.add_api_route(
            f"/{page}", _make(f"/web/{page}.html"), methods=["GET"], include_in_schema=False
        )
