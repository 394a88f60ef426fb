"""The few expressions that differ between PostgreSQL and SQLite.

Why here: the statistics are one set of Core statements; only time arithmetic,
integer division and summing a JSON object's values need per-dialect SQL.
SQLite keeps timestamps as naive UTC text ("2026-03-02 08:00:00.000000"),
which `julianday` parses; PostgreSQL has `timestamptz`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

_UNIX_EPOCH_JULIAN = 2440587.5


class SqlDialect:
    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"

    def epoch(self, col: Any) -> sa.ColumnElement[Any]:
        """Seconds since 1970 of a timestamp column, as a number."""
        if self.pg:
            # date_part returns double precision; EXTRACT returns numeric (3x slower to sum).
            return sa.func.date_part("epoch", col, type_=sa.Float)
        # A Julian day as a double resolves ~50 µs: round to ms so 600 s stays 600 s.
        return sa.func.round((sa.func.julianday(col) - _UNIX_EPOCH_JULIAN) * 86400.0, 3)

    def seconds_between(self, later: Any, earlier: Any) -> sa.ColumnElement[Any]:
        return self.epoch(later) - self.epoch(earlier)

    def floor_div(self, value: Any, width: float) -> sa.ColumnElement[Any]:
        """floor(value / width) for non-negative values, as an integer."""
        if self.pg:
            return sa.cast(sa.func.floor(value / width), sa.Integer)
        return sa.cast(value / width, sa.Integer)  # SQLite truncates; value >= 0

    def json_values_sum(self, table: str, column: str) -> sa.ColumnElement[Any]:
        """Sum of the numeric values of a JSON object column (a rubric's scores)."""
        if self.pg:
            sql = (
                "(SELECT COALESCE(SUM(CAST(j.value AS DOUBLE PRECISION)), 0) "
                f"FROM json_each_text({table}.{column}) AS j)"
            )
        else:
            sql = f"(SELECT COALESCE(SUM(j.value), 0) FROM json_each({table}.{column}) AS j)"
        return sa.literal_column(sql, sa.Float)
