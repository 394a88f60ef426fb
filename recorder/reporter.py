"""The recorder's reports to the server: state, manifest, sizes, over REST.

Why REST and not a shared database or memory: the recorder is a separate
process, possibly on another machine, holding only a RECORDER room token. It
never touches the database; the server applies the report
(server/api/recording_state.py). A report never raises into the recording:
a server that is down costs a retry and a log line, never a frame.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class Reporter:
    """POSTs `{state, manifest, size_bytes, error}` to the recording's report URL."""

    def __init__(self, url: str | None, token: str, *, attempts: int = 4,
                 timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.attempts = attempts
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def send(self, state: str, manifest: dict[str, Any] | None = None, *,
                   size_bytes: int | None = None, error: str | None = None) -> bool:
        if not self.url:
            return False
        body = {"state": state, "manifest": manifest, "size_bytes": size_bytes, "error": error}
        headers = {"Authorization": f"Bearer {self.token}"}
        delay = 0.5
        for attempt in range(self.attempts):
            try:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    r = await client.post(self.url, json=body, headers=headers)
                if r.status_code < 300:
                    self.sent += 1
                    return True
                self.last_error = f"{r.status_code}: {r.text[:300]}"
                if r.status_code < 500:  # refused (bad state, token): retrying won't help
                    break
            except httpx.HTTPError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning("recorder report failed: %s", self.last_error)
        return False
