"""The `tongbu` command line (typer).

`serve` and `demo` migrate the database before starting; nothing else creates
tables. Sub-apps of other packages are added in the marked block at the end.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from server.settings import Settings

app = typer.Typer(
    help="Tongbu (同步): live-classroom server for the three classrooms.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")


def _settings() -> Settings:
    return Settings()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "heads") -> None:
    """Migrate the database (TONGBU_DATABASE_URL, default SQLite in the data dir)."""
    from server.db import migrate

    settings = _settings()
    asyncio.run(migrate.upgrade(settings, revision))
    typer.echo(
        f"database at {asyncio.run(migrate.current_revision(settings))}: {_safe_url(settings)}"
    )


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from server.db import migrate

    typer.echo(asyncio.run(migrate.current_revision(_settings())) or "empty")


@admin_app.command("create")
def admin_create(
    login: Annotated[str, typer.Option(help="login name")],
    unit: Annotated[
        str, typer.Option(help="org unit id or name path, e.g. 内蒙古自治区/锡林郭勒盟")
    ],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create an admin scoped to a unit (a new root name creates that province)."""
    from server.auth import Passwords
    from server.db import migrate
    from server.db.engine import Database
    from server.errors import TongbuError
    from server.seed import create_admin

    settings = _settings()

    async def run() -> None:
        await migrate.upgrade(settings)
        db = Database.from_settings(settings)
        await db.open()
        try:
            async with db.session() as session:
                account = await create_admin(
                    session, Passwords(settings), login=login, password=password, unit=unit
                )
            typer.echo(
                f"admin {account.login!r} created (user {account.user_id}, "
                f"unit {account.org_unit_id})"
            )
        finally:
            await db.close()

    try:
        asyncio.run(run())
    except TongbuError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (TONGBU_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (TONGBU_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Run the server (migrates the database first)."""
    from server.db import migrate

    settings = _settings()
    if migrate_first:
        asyncio.run(migrate.upgrade(settings))
    _run_uvicorn(settings, host or settings.host, port or settings.port, workers)


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        # Each worker process builds its own app from the same TONGBU_* environment.
        settings.ensure_secret()
        uvicorn.run(
            "server.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
        )
    else:
        from server.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    seed_only: Annotated[bool, typer.Option(help="seed and exit without serving")] = False,
) -> None:
    """Migrate, seed a demo banner in Inner Mongolia with today's lessons, and serve it."""
    import sqlalchemy as sa

    from server.auth import Passwords
    from server.db import migrate
    from server.db.engine import Database
    from server.db.models import OrgUnit
    from server.seed import DemoSeed, seed_demo

    settings = _settings()
    host = host or settings.host
    port = port or settings.port

    async def run() -> DemoSeed | None:
        await migrate.upgrade(settings)
        db = Database.from_settings(settings)
        await db.open()
        try:
            async with db.session() as session:
                if await session.scalar(sa.select(OrgUnit.id).limit(1)) is not None:
                    return None
                return await seed_demo(session, Passwords(settings))
        finally:
            await db.close()

    seed = asyncio.run(run())
    base = settings.public_url or f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    if seed is None:
        typer.echo(
            f"{settings.data_dir} already holds data: not seeding again "
            "(use another TONGBU_DATA_DIR for a fresh demo)."
        )
    else:
        typer.echo("Demo accounts (passwords are shown once):")
        for name, account in seed.accounts.items():
            typer.echo(
                f"  {account.role.value:<10} {account.login:<20} {account.password}"
                f"{'   ← start here' if name == 'teacher' else ''}"
            )
        typer.echo(
            f"Lessons today: {', '.join(str(i) for i in seed.lesson_ids)} "
            "(the first opens in 10 minutes; the teacher may start it now)"
        )
    typer.echo(f"API docs:     {base}/docs")
    typer.echo(f"Teacher:      {base}/teacher")
    typer.echo(f"Classroom:    {base}/classroom")
    typer.echo(f"Evaluator:    {base}/evaluator")
    typer.echo(f"Admin:        {base}/admin")
    if not seed_only:
        _run_uvicorn(settings, host, port, 1)


def _safe_url(settings: Settings) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(settings.db_url).render_as_string(hide_password=True)


# --- sub-apps of other packages --------------------------------------------------------------
# Other packages add their command groups here, one line each, e.g.
#   from bench.cli import app as bench_app; app.add_typer(bench_app, name="bench")
# Planned: `bench` (tests/bench, media), `record` and `recording` (recorder).
from recorder.cli import record_app, recording_app  # noqa: E402

app.add_typer(record_app, name="record")
app.add_typer(recording_app, name="recording")
from server.bench.cli import bench_app  # noqa: E402

app.add_typer(bench_app, name="bench")
from server.broadcast.cli import broadcast_app  # noqa: E402

app.add_typer(broadcast_app, name="broadcast")
# --- end of sub-apps -------------------------------------------------------------------------


if __name__ == "__main__":  # `python -m server.cli` runs the same CLI as `tongbu`
    app()
