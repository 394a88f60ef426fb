"""REST API: routers per resource, wired into the app by `install_api`.

`install_api` includes the routers and appends the database component to
`app.state.components`: at startup it opens `Database` on `app.state.db` (and
closes it on shutdown). Other packages reach the database through
`app.state.db.session()`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from server.auth import Passwords
from server.db.engine import Database
from server.settings import Settings
from server.stats.metrics import install_metrics


async def database_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Open the database for the app's lifetime. Migrations are run by the CLI, not here."""
    db = Database.from_settings(settings)
    await db.open()
    app.state.db = db
    stack.push_async_callback(db.close)


def install_api(app: FastAPI, settings: Settings) -> None:
    from server.api import (
        attendance,
        audit,
        auth,
        calendar,
        classrooms,
        courses,
        courseware,
        evaluations,
        events,
        interaction,
        lessons,
        library,
        meetings,
        notifications,
        ops,
        org_units,
        patrol,
        recording_supervisor,
        recordings,
        reports,
        research,
        stats,
        users,
        webhooks,
    )
    from server.broadcast import api as broadcast_api
    from server.broadcast.manager import broadcasts_component
    from server.notices.mailer import mailer_component

    app.state.passwords = Passwords(settings)
    app.state.metrics.register(ops.ServerCollector(app))
    app.add_middleware(ops.HttpMetrics, registry=app.state.metrics)
    app.state.components.append(database_component)
    install_metrics(app)
    app.state.components.append(webhooks.webhooks_component)
    app.state.components.append(mailer_component)
    app.state.components.append(broadcasts_component)
    app.state.components.append(recording_supervisor.supervisor_component)
    for router in (
        ops.router,
        auth.router,
        org_units.router,
        org_units.schools,
        classrooms.router,
        users.router,
        courses.router,
        lessons.router,
        library.router,
        notifications.router,
        notifications.timetable,
        calendar.router,
        broadcast_api.router,
        attendance.router,
        interaction.router,
        events.router,
        evaluations.rubrics,
        evaluations.router,
        recordings.router,
        recordings.policies,
        stats.router,
        webhooks.router,
        audit.router,
        patrol.router,
        courseware.router,  # issue 6: 课件同步, 同步教研, 同步视讯, 同步评估
        research.router,
        research.notes,
        meetings.router,
        reports.router,
    ):
        app.include_router(router)
