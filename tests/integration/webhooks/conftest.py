"""The REST suite's `world`: the demo seed on SQLite and on real PostgreSQL."""

from tests.integration.api.conftest import (  # noqa: F401 - fixtures re-exported
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)
