"""The mailer runs inside a real server's lifespan: a queued mail goes out when SMTP comes up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from server.db import migrate
from server.db.engine import Database
from server.db.models_reach import MailOutbox, MailState, NoticeKind
from server.settings import Settings

from .conftest import SmtpSink


@pytest.fixture
async def mail_settings(settings: Settings, smtp_port: int) -> Settings:
    """Settings of the live server: SMTP on a port nobody listens on yet, quick retries."""
    settings.notices.smtp_host = "127.0.0.1"
    settings.notices.smtp_port = smtp_port
    settings.notices.retry_base = 0.2
    settings.notices.retry_max = 0.5
    settings.notices.poll_interval = 0.1
    settings.notices.smtp_timeout = 2.0
    await migrate.upgrade(settings)
    return settings


async def _rows(settings: Settings) -> list[MailOutbox]:
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            return list((await session.scalars(sa.select(MailOutbox))).all())
    finally:
        await db.close()


async def test_lifespan_mailer_retries_until_the_smtp_server_is_up(
    mail_settings: Settings, live_server: Any, smtp_port: int
) -> None:
    db = Database.from_settings(mail_settings)
    await db.open()
    try:
        async with db.session() as session:
            session.add(MailOutbox(to_addr="office@village.test", subject="[同步课堂] 课表已发布",
                                   body="第一周\n", kind=NoticeKind.TIMETABLE_PUBLISHED))
    finally:
        await db.close()
    for _ in range(100):  # up to 20 s
        rows = await _rows(mail_settings)
        if rows[0].attempts >= 2:
            break
        await asyncio.sleep(0.2)
    assert rows[0].state is MailState.PENDING and rows[0].attempts >= 2, rows[0].last_error
    sink = SmtpSink(smtp_port)
    sink.start()
    try:
        for _ in range(100):
            if sink.messages:
                break
            await asyncio.sleep(0.2)
        assert len(sink.messages) == 1
        assert "课表已发布" in str(sink.messages[0]["Subject"])
        rows = await _rows(mail_settings)
        assert rows[0].state is MailState.SENT and rows[0].sent_at is not None
    finally:
        sink.stop()
    metrics = live_server.app.state.mail_metrics
    assert metrics.failures._value.get() >= 2 and metrics.sent._value.get() == 1
