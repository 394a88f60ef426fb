"""The async engine and session factory, opened and closed by the app's lifespan.

Other packages get a session through `Database.session()` (or, in routes, the
`SessionDep` dependency); nobody builds an engine of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.settings import Settings


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine with the per-dialect settings Tongbu relies on (SQLite foreign keys on)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Owns one engine; `session()` yields a session that commits on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.db_url)

    async def open(self) -> None:
        if self._engine is not None:
            return
        if self.url.startswith("sqlite"):
            _ensure_sqlite_dir(self.url)
        self._engine = make_engine(self.url)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessions = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database is not open")
        return self._engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commit when the block succeeds, roll back when it raises."""
        if self._sessions is None:
            raise RuntimeError("Database is not open")
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections, for /metrics (zeros when the pool can't tell)."""
        pool = self.engine.pool if self._engine is not None else None
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        return {
            "checked_out": int(checked_out()) if callable(checked_out) else 0,
            "idle": int(checked_in()) if callable(checked_in) else 0,
        }


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
