"""Run Alembic programmatically, so `tongbu db upgrade` works from any directory.

The alembic.ini and the migrations live inside the package. `upgrade()` is
async: it opens the async engine and hands Alembic a sync connection through
`run_sync`, so it also runs inside an already running event loop (tests, the
app's startup) without a nested `asyncio.run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from server.db.engine import Database
from server.settings import Settings

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(settings: Settings, revision: str = "heads") -> None:
    await _run(settings, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(settings: Settings, revision: str) -> None:
    await _run(settings, lambda cfg: command.downgrade(cfg, revision))


def script_heads() -> list[str]:
    """The newest revisions the code knows; a database at these is up to date."""
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def current_revision(settings: Settings) -> str | None:
    """The database's revision; several heads (feature branches not yet merged) join with '+'."""
    from alembic.runtime.migration import MigrationContext

    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: "+".join(sorted(MigrationContext.configure(c).get_current_heads()))
                or None
            )
    finally:
        await db.close()


async def _run(settings: Settings, action: Any) -> None:
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.engine.begin() as conn:

            def work(sync_conn: Connection) -> None:
                cfg = alembic_config(settings.db_url)
                cfg.attributes["connection"] = sync_conn
                action(cfg)

            await conn.run_sync(work)
    finally:
        await db.close()
