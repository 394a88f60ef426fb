"""Merge the feature branches (interaction, recording, supervision, reach, collaboration).

Why branches: the five features were built side by side, each with its own
migration off 0001; they touch disjoint tables (and disjoint columns of shared
ones), so their order does not matter. This empty revision joins them into one
head, so `alembic upgrade head` and `tongbu db current` show a single revision.

Revision ID: 0007
Revises: 0002, 0003, 0004, 0005, 0006
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
