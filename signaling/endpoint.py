"""Installs `/ws` on the app. Owned by the signaling work (issue 4)."""

from __future__ import annotations

from fastapi import FastAPI

from server.settings import Settings


def install_signaling(app: FastAPI, settings: Settings) -> None:
    return None
