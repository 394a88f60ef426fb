"""Recording retention and storage quota per org unit (issue 7).

Why a table of its own rather than columns on `org_unit`: the policy is a
recording concern (read only by the recorder supervisor, the prune command and
the recording API), and most units inherit from an ancestor, so most units have
no row at all. A unit's effective value is its own, else the nearest
ancestor's, else the setting `recording.default_*` (see
server/api/recording_retention.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, utcnow


class RecordingPolicy(Base):
    """Quota (bytes) and retention (days) set on one unit; NULL = inherit."""

    __tablename__ = "recording_policy"

    org_unit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="CASCADE"), primary_key=True
    )
    quota_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    retention_days: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
