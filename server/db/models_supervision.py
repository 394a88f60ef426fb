"""Tables of supervision and operations: network quality, patrol flags, webhooks.

Why a module of its own: these rows are written by operations paths (signaling
leave, the patrol page, the webhook worker) and read by the statistics; none of
the core timetable code needs them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, str_enum, utcnow


class QualitySample(Base):
    """One participant's network quality over its stay in a lesson (written at leave).

    A summary, not a time series: the statistics need means per lesson and unit,
    and one row per stay keeps a province-size term at a few hundred thousand rows.
    """

    __tablename__ = "quality_sample"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="SET NULL")
    )
    identity: Mapped[str] = mapped_column(sa.String(120))
    # Fraction of packets lost (0..1), mean round-trip time, share of time on the low layer.
    loss: Mapped[float] = mapped_column(sa.Float)
    rtt_ms: Mapped[float] = mapped_column(sa.Float)
    low_layer_share: Mapped[float] = mapped_column(sa.Float)
    seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PatrolFlag(Base):
    """An issue an admin noticed while patrolling (巡课) a live lesson."""

    __tablename__ = "patrol_flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lesson.id", ondelete="CASCADE"), index=True
    )
    classroom_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("classroom.id", ondelete="SET NULL")
    )
    author: Mapped[str] = mapped_column(sa.String(120))
    category: Mapped[str] = mapped_column(sa.String(40))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


class WebhookEndpoint(Base):
    """A receiver URL of one org unit; it gets the events of lessons under that unit."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("org_unit.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(500))
    secret: Mapped[str] = mapped_column(sa.String(200))
    events: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by: Mapped[str] = mapped_column(sa.String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the durable queue and the delivery log in one row."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[DeliveryState] = mapped_column(
        str_enum(DeliveryState), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
