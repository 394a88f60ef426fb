"""Persistence: models, the async engine/session factory and Alembic migrations."""

from server.db.engine import Database

__all__ = ["Database"]
