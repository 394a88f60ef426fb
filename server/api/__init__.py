"""REST API routers. Owned by the foundation work (issue 3)."""

from __future__ import annotations

from fastapi import FastAPI

from server.settings import Settings


def install_api(app: FastAPI, settings: Settings) -> None:
    @app.get("/api/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}
