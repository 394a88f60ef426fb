"""Operations endpoints: liveness, readiness (database reachable) and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.db.engine import Database

router = APIRouter(tags=["ops"])


@router.get("/api/health")
async def health() -> dict[str, str]:
    """The process answers (no dependency checked): for liveness probes."""
    return {"status": "ok"}


@router.get("/api/ready", responses={503: {"description": "database unreachable"}})
async def ready(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise: for readiness probes and load balancers."""
    db: Database | None = getattr(request.app.state, "db", None)
    if db is None or not await db.ping():
        body = {"error": {"code": "not_ready", "message": "database unreachable", "details": None}}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


class ServerCollector(Collector):
    """Process uptime and the database pool, read at scrape time from the app's state."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._started = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "tongbu_uptime_seconds",
            "Seconds since the app was built",
            value=time.monotonic() - self._started,
        )
        db: Database | None = getattr(self._app.state, "db", None)
        pool = db.pool_status() if db is not None else {"checked_out": 0, "idle": 0}
        family = GaugeMetricFamily(
            "tongbu_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        for state, value in pool.items():
            family.add_metric([state], value)
        yield family


class HttpMetrics:
    """Pure ASGI middleware: request count and latency per route template and status.

    The route *template* (`/api/lessons/{lesson_id}`) keeps label cardinality bounded.
    """

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "tongbu_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tongbu_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)
