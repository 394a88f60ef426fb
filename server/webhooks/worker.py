"""The delivery worker: POST due rows, record the outcome, back off exponentially.

Why leases instead of row locks held over HTTP: a delivery may take up to the
timeout; the worker first moves `next_attempt_at` past the timeout (claiming the
row, with `SKIP LOCKED` on PostgreSQL so several nodes share the queue), then
posts outside any transaction, then writes the result. A crash in between
leaves the row pending with an expired lease: it is sent again (at least once;
receivers deduplicate on the event `id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from prometheus_client import CollectorRegistry, Counter

from server.db.engine import Database
from server.db.models import utcnow
from server.db.models_supervision import DeliveryState, WebhookDelivery, WebhookEndpoint
from server.settings import SupervisionSettings
from server.webhooks.signing import SIGNATURE_HEADER, signature_header

log = structlog.get_logger("tongbu.webhooks")
BATCH = 20


class WebhookWorker:
    def __init__(
        self,
        db: Database,
        settings: SupervisionSettings,
        registry: CollectorRegistry | None = None,
        outcomes: Counter | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.outcomes = outcomes or Counter(
            "tongbu_webhook_deliveries",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            registry=registry,
        )

    def poke(self) -> None:
        """Deliver soon (an event was just queued) instead of at the next poll."""
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.webhook_backoff_base * 2 ** max(attempts - 1, 0), s.webhook_backoff_max))

    async def _claim(self) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        now = utcnow()
        # Long enough for a whole batch to one slow endpoint (its rows go in sequence).
        lease = now + timedelta(seconds=(self.settings.webhook_timeout + 1) * BATCH + 30)
        async with self.db.session() as session:
            query = (
                sa.select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
            rows = list((await session.execute(query)).tuples().all())
            for delivery, _ in rows:
                delivery.next_attempt_at = lease
                delivery.attempts += 1
        return rows

    async def _post(
        self, client: httpx.AsyncClient, delivery: WebhookDelivery, endpoint: WebhookEndpoint
    ) -> tuple[int | None, str]:
        body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tongbu-webhooks/1",
            "X-Tongbu-Event": delivery.event,
            "X-Tongbu-Delivery": str(delivery.id),
            SIGNATURE_HEADER: signature_header(endpoint.secret, int(time.time()), body),
        }
        try:
            r = await client.post(endpoint.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, f"timeout after {self.settings.webhook_timeout:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= r.status_code < 300:
            return r.status_code, ""
        return r.status_code, f"HTTP {r.status_code}: {r.text[:200]}"

    async def _record(self, delivery_id: int, status: int | None, error: str) -> None:
        async with self.db.session() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is None:  # endpoint deleted meanwhile
                return
            delivery.last_status = status
            delivery.last_error = error
            if not error:
                delivery.state = DeliveryState.DELIVERED
                delivery.delivered_at = utcnow()
                outcome = "delivered"
            elif delivery.attempts >= self.settings.webhook_max_attempts:
                delivery.state = DeliveryState.FAILED
                outcome = "gave_up"
            else:
                delivery.next_attempt_at = utcnow() + timedelta(
                    seconds=self.backoff(delivery.attempts)
                )
                outcome = "retry"
            self.outcomes.labels(outcome).inc()
            log.info(
                "webhook attempt",
                delivery_id=delivery.id,
                webhook_event=delivery.event,
                lesson_id=delivery.payload.get("data", {}).get("lesson_id"),
                attempt=delivery.attempts,
                status=status,
                outcome=outcome,
                error=error or None,
            )

    async def run_once(self) -> int:
        """Deliver what is due now (concurrently); returns how many rows were attempted."""
        rows = await self._claim()
        if not rows:
            return 0
        timeout = httpx.Timeout(self.settings.webhook_timeout)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            # Endpoints in parallel (a hanging one delays only itself), each endpoint's
            # rows in order: a receiver that answers sees events as they happened.
            per_endpoint: dict[int, list[WebhookDelivery]] = {}
            endpoints: dict[int, WebhookEndpoint] = {}
            for delivery, endpoint in rows:
                per_endpoint.setdefault(endpoint.id, []).append(delivery)
                endpoints[endpoint.id] = endpoint

            async def deliver(endpoint: WebhookEndpoint, queue: list[WebhookDelivery]) -> None:
                for delivery in queue:
                    status, error = await self._post(client, delivery, endpoint)
                    await self._record(delivery.id, status, error)

            await asyncio.gather(*(deliver(endpoints[k], q) for k, q in per_endpoint.items()))
        return len(rows)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                busy = await self.run_once()
                failures = 0
            except Exception as exc:  # the database is away: keep the loop, back off
                failures += 1
                if failures == 1:
                    log.warning("webhook worker round failed", error=type(exc).__name__)
                busy = 0
            if busy:
                continue
            self._wake.clear()
            wait = self.settings.webhook_poll_interval * min(2**failures, 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def worker_of(app: Any) -> WebhookWorker | None:
    worker: WebhookWorker | None = getattr(app.state, "webhooks", None)
    return worker
