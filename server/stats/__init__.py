"""Usage statistics for supervision (督导): SQL aggregates per org unit and period.

Everything is computed in the database with SQLAlchemy Core, the same statements
on PostgreSQL and SQLite (the few dialect differences live in `server.stats.sql`).
Attribution rules (docs/supervision.md):
- a lesson belongs to the school of its main classroom (the teaching side);
- a teaching point is a receiving classroom; it belongs to its own school and
  "used the system" in a period when it joined at least one lesson starting in it.
"""

from server.stats.period import Granularity, Period, make_period
from server.stats.queries import (
    LessonRow,
    UnitStats,
    children_stats,
    lesson_rows,
    series_stats,
    unit_stats,
)

__all__ = [
    "Granularity",
    "LessonRow",
    "Period",
    "UnitStats",
    "children_stats",
    "lesson_rows",
    "make_period",
    "series_stats",
    "unit_stats",
]
