"""Notice tests: the seeded API world (SQLite + PostgreSQL) and a real SMTP sink (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from tests.integration.api.conftest import (  # noqa: F401 - fixtures
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)
from tests.integration.signaling.conftest import live_server  # noqa: F401 - fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content or envelope.content,
                                 policy=policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, addr: str) -> list[EmailMessage]:
        return [m for m in self.messages if addr in str(m["To"])]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_sink(smtp_port: int) -> Iterator[SmtpSink]:
    sink = SmtpSink(smtp_port)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
