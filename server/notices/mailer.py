"""The e-mail outbox worker: sends due `mail_outbox` rows through SMTP, retries forever.

Never lost: a row is marked `sent` only after the SMTP server accepted it; any
failure (server down, timeout, 4xx/5xx) keeps it `pending` with `attempts` + 1
and `next_attempt_at` = now + base·2^attempts (capped at `retry_max`), so mail
queued while the SMTP server is down goes out when it comes back. On
PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so several server
processes can run the worker without sending twice.

The worker is a lifespan component (`mailer_component`): a task that calls
`deliver_due` every `poll_interval` seconds and is cancelled at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge

from server.db.engine import Database
from server.db.models import utcnow
from server.db.models_reach import MailOutbox, MailState
from server.settings import NoticeSettings, Settings

log = structlog.get_logger("tongbu.notices.mailer")


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0


class MailMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.sent = Counter("tongbu_mail_sent", "E-mails accepted by SMTP", registry=registry)
        self.failures = Counter("tongbu_mail_failures", "Failed SMTP attempts (will retry)",
                                registry=registry)
        self.pending = Gauge("tongbu_mail_pending", "E-mails waiting in the outbox",
                             registry=registry)


def backoff(cfg: NoticeSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(cfg.retry_max, cfg.retry_base * 2 ** max(0, attempts - 1)))


def build_message(row: MailOutbox, cfg: NoticeSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.mail_from
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Message-ID"] = make_msgid(idstring=f"tongbu-{row.id}")
    msg.set_content(row.body, charset="utf-8")
    return msg


async def send_one(msg: EmailMessage, cfg: NoticeSettings) -> None:
    assert cfg.smtp_host is not None
    await aiosmtplib.send(
        msg, hostname=cfg.smtp_host, port=cfg.smtp_port, username=cfg.smtp_username,
        password=cfg.smtp_password, start_tls=cfg.smtp_starttls, use_tls=cfg.smtp_use_tls,
        timeout=cfg.smtp_timeout,
    )


@contextlib.asynccontextmanager
async def _claim(db: Database, limit: int) -> AsyncIterator[tuple[object, list[MailOutbox]]]:
    async with db.session() as session:
        query = (
            sa.select(MailOutbox)
            .where(MailOutbox.state == MailState.PENDING, MailOutbox.next_attempt_at <= utcnow())
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list((await session.scalars(query)).all())
        yield session, rows


async def deliver_due(
    db: Database, settings: Settings, metrics: MailMetrics | None = None, limit: int = 50
) -> DeliveryReport:
    """Try every due e-mail once; returns what happened. Never raises for SMTP errors."""
    cfg = settings.notices
    report = DeliveryReport()
    if cfg.smtp_host is None:
        return report
    async with _claim(db, limit) as (_session, rows):
        for row in rows:
            try:
                await send_one(build_message(row, cfg), cfg)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                row.next_attempt_at = utcnow() + backoff(cfg, row.attempts)
                report.failed += 1
                if metrics:
                    metrics.failures.inc()
                log.warning("mail deferred", mail_id=row.id, attempts=row.attempts,
                            error=row.last_error, retry_at=row.next_attempt_at.isoformat())
            else:
                row.state = MailState.SENT
                row.sent_at = utcnow()
                row.attempts += 1
                report.sent += 1
                if metrics:
                    metrics.sent.inc()
                log.info("mail sent", mail_id=row.id, to=row.to_addr)
    async with db.session() as session:
        report.pending = int(await session.scalar(
            sa.select(sa.func.count()).select_from(MailOutbox)
            .where(MailOutbox.state == MailState.PENDING)) or 0)
    if metrics:
        metrics.pending.set(report.pending)
    return report


async def run_mailer(db: Database, settings: Settings, metrics: MailMetrics,
                     stop: asyncio.Event) -> None:
    """Deliver due mail until `stop` is set; a database hiccup is logged and retried."""
    while not stop.is_set():
        try:
            await deliver_due(db, settings, metrics)
        except Exception as exc:  # the worker must outlive a database restart
            log.error("mailer pass failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.notices.poll_interval)


async def mailer_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Lifespan part: start the outbox worker (after the database component)."""
    metrics = MailMetrics(app.state.metrics)
    app.state.mail_metrics = metrics
    if not settings.notices.mailer:
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run_mailer(app.state.db, settings, metrics, stop),
                               name="tongbu-mailer")

    async def close() -> None:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)

    stack.push_async_callback(close)
