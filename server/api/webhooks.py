"""Webhook endpoints of org units (admins in scope) and their delivery log.

The secret is shown once, in the answer to the POST that creates the endpoint
(or rotates it); afterwards only its last four characters.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import Page
from server.audit import audit
from server.auth import Principal
from server.db.models import OrgUnit
from server.db.models_supervision import DeliveryState, WebhookDelivery, WebhookEndpoint
from server.errors import NotFound, PermissionDenied
from server.policy import require_admin, require_admin_over, unit_path
from server.settings import Settings
from server.webhooks.outbox import EVENTS, ping
from server.webhooks.worker import WebhookWorker

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

EventName = Annotated[str, Field(description="one of " + ", ".join(EVENTS))]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an absolute http:// or https:// URL")
    return url


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown events {unknown}; known: {list(EVENTS)}")
    return sorted(set(events))


class EndpointCreate(BaseModel):
    org_unit_id: int
    url: str = Field(max_length=500)
    events: list[EventName] = Field(default_factory=list, description="empty: every event")
    description: str = Field(default="", max_length=200)

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)


class EndpointUpdate(BaseModel):
    url: str | None = Field(default=None, max_length=500)
    events: list[EventName] | None = None
    description: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    rotate_secret: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v)

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_events(v)


class EndpointPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    org_unit_id: int
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_by: str
    created_at: datetime
    secret_hint: str = ""


class EndpointWithSecret(EndpointPublic):
    secret: str


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    event: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


def _public(e: WebhookEndpoint) -> EndpointPublic:
    out = EndpointPublic.model_validate(e)
    out.secret_hint = "…" + e.secret[-4:]
    return out


def _visible(p: Principal) -> sa.ColumnElement[bool]:
    return WebhookEndpoint.org_unit_id.in_(
        sa.select(OrgUnit.id).where(OrgUnit.path.startswith(p.org_path, autoescape=True))
    )


async def _get(session: AsyncSession, p: Principal, endpoint_id: int) -> WebhookEndpoint:
    require_admin(p)
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint not found", {"endpoint_id": endpoint_id})
    if not (await unit_path(session, endpoint.org_unit_id)).startswith(p.org_path):
        raise PermissionDenied("this endpoint is outside your scope", {"endpoint_id": endpoint_id})
    return endpoint


@router.post("", response_model=EndpointWithSecret, status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    body: EndpointCreate, session: SessionDep, p: CurrentPrincipal
) -> EndpointWithSecret:
    path = await unit_path(session, body.org_unit_id)
    require_admin_over(p, path)
    endpoint = WebhookEndpoint(
        org_unit_id=body.org_unit_id,
        url=body.url,
        events=body.events,
        description=body.description,
        secret=secrets.token_urlsafe(32),
        created_by=p.identity,
    )
    session.add(endpoint)
    await session.flush()
    audit(
        session,
        p,
        "webhook.created",
        f"webhook:{endpoint.id}",
        {"url": body.url, "events": body.events},
        scope_path=path,
    )
    return EndpointWithSecret(**_public(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", response_model=Page[EndpointPublic])
async def list_endpoints(
    session: SessionDep, p: CurrentPrincipal, paging: PagingDep, org_unit_id: int | None = None
) -> Page[EndpointPublic]:
    require_admin(p)
    query = sa.select(WebhookEndpoint).where(_visible(p)).order_by(WebhookEndpoint.id)
    if org_unit_id is not None:
        query = query.where(WebhookEndpoint.org_unit_id == org_unit_id)
    page = await paginate(session, query, paging, EndpointPublic)
    rows = {
        e.id: e
        for e in await session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.id.in_([i.id for i in page.items]))
        )
    }
    page.items = [_public(rows[i.id]) for i in page.items]
    return page


@router.get("/{endpoint_id}", response_model=EndpointPublic)
async def get_endpoint(
    endpoint_id: int, session: SessionDep, p: CurrentPrincipal
) -> EndpointPublic:
    return _public(await _get(session, p, endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointPublic | EndpointWithSecret)
async def update_endpoint(
    endpoint_id: int, body: EndpointUpdate, session: SessionDep, p: CurrentPrincipal
) -> EndpointPublic:
    endpoint = await _get(session, p, endpoint_id)
    changes = body.model_dump(exclude_unset=True, exclude={"rotate_secret"})
    for key, value in changes.items():
        if value is not None:
            setattr(endpoint, key, value)
    if body.rotate_secret:
        endpoint.secret = secrets.token_urlsafe(32)
    audit(
        session,
        p,
        "webhook.updated",
        f"webhook:{endpoint.id}",
        {**changes, "rotate_secret": body.rotate_secret},
        scope_path=await unit_path(session, endpoint.org_unit_id),
    )
    if body.rotate_secret:
        return EndpointWithSecret(**_public(endpoint).model_dump(), secret=endpoint.secret)
    return _public(endpoint)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(endpoint_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    endpoint = await _get(session, p, endpoint_id)
    path = await unit_path(session, endpoint.org_unit_id)
    await session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    await session.delete(endpoint)
    audit(
        session,
        p,
        "webhook.deleted",
        f"webhook:{endpoint_id}",
        {"url": endpoint.url},
        scope_path=path,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/ping", response_model=DeliveryPublic, status_code=status.HTTP_202_ACCEPTED
)
async def ping_endpoint(
    endpoint_id: int, request: Request, session: SessionDep, p: CurrentPrincipal
) -> WebhookDelivery:
    """Queue a `webhook.ping` to this endpoint (even an inactive one); see the delivery log."""
    endpoint = await _get(session, p, endpoint_id)
    delivery = ping(endpoint.id, p.identity)
    session.add(delivery)
    await session.flush()
    worker = getattr(request.app.state, "webhooks", None)
    if worker is not None:
        worker.poke()
    return delivery


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryPublic])
async def list_deliveries(
    endpoint_id: int,
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    state: DeliveryState | None = None,
    event: str | None = None,
) -> Page[DeliveryPublic]:
    """The delivery log, newest first: attempts, last status and error of each event."""
    await _get(session, p, endpoint_id)
    query = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
    )
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    if event is not None:
        query = query.where(WebhookDelivery.event == event)
    return await paginate(session, query, paging, DeliveryPublic)


# --- lifespan ------------------------------------------------------------------------------


async def webhooks_component(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Start the delivery worker; hook signaling's room events once the hub exists.

    The hub is created by signaling's component, which runs after this one; the
    lifespan walks `app.state.components` as a list, so a component appended now
    runs after signaling's and finds `app.state.hub`.
    """
    worker: WebhookWorker | None = getattr(app.state, "webhooks", None)
    if worker is None or worker.db is not app.state.db:
        # One Prometheus counter per app, even when a test runs the lifespan twice.
        counter = worker.outcomes if worker is not None else None
        worker = WebhookWorker(app.state.db, settings.supervision, app.state.metrics, counter)
        app.state.webhooks = worker
    if settings.supervision.webhook_worker:
        worker.start()
        stack.push_async_callback(worker.stop)

    async def attach(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
        from server.stats.quality import QualityTracker
        from server.webhooks.observer import RoomEventsToWebhooks

        hub = getattr(app.state, "hub", None)
        if hub is not None and hasattr(hub, "observe"):
            # Per-stay network quality from the SFU's consumer stats, written at leave.
            tracker = QualityTracker(hub)
            tracker.start()
            stack.push_async_callback(tracker.stop)
            app.state.quality_tracker = tracker
            observer = RoomEventsToWebhooks(app.state.db, app.state.webhooks, tracker)
            stack.callback(hub.observe(observer))

    if not getattr(app.state, "webhooks_attach_added", False):
        app.state.webhooks_attach_added = True
        app.state.components.append(attach)
