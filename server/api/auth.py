"""Login, token refresh, `me`, and the device side of classroom pairing."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter

from server.api.common import audit
from server.api.deps import (
    CurrentPrincipal,
    DatabaseDep,
    PasswordsDep,
    SessionDep,
    SettingsDep,
)
from server.api.schemas import (
    DeviceTokenResponse,
    LoginRequest,
    MePublic,
    PairRequest,
    RefreshRequest,
    TokenResponse,
)
from server.audit import audit as write_audit
from server.audit import audit_now, login_scope
from server.auth import (
    Principal,
    authenticate_password,
    issue_device_token,
    issue_user_tokens,
    redeem_pairing_code,
    user_from_refresh,
)
from server.db.models import OrgUnit, Role
from server.errors import Unauthenticated

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/login", response_model=TokenResponse)
async def login(
    body: LoginRequest,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    db: DatabaseDep,
) -> TokenResponse:
    try:
        user = await authenticate_password(session, passwords, body.login, body.password)
    except Unauthenticated:
        # The request's transaction rolls back: the refusal is written in one of its own.
        actor, scope = await login_scope(db, body.login)
        await audit_now(
            db,
            "auth.login_failed",
            actor=actor,
            target=f"login:{body.login[:80]}",
            scope_path=scope,
        )
        await asyncio.sleep(settings.auth.login_failure_delay)
        raise
    home = await session.scalar(sa.select(OrgUnit.path).where(OrgUnit.id == user.org_unit_id))
    write_audit(
        session,
        None,
        "auth.login",
        f"user:{user.id}",
        actor=f"user-{user.id}",
        scope_path=home or "",
    )
    pair = issue_user_tokens(settings, user)
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest, session: SessionDep, settings: SettingsDep
) -> TokenResponse:
    user = await user_from_refresh(session, settings, body.refresh_token)
    pair = issue_user_tokens(settings, user)
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.get("/me", response_model=MePublic)
async def me(principal: CurrentPrincipal) -> MePublic:
    return MePublic(
        role=principal.role,
        name=principal.name,
        user_id=principal.user_id,
        classroom_id=principal.classroom_id,
        org_unit_id=principal.org_unit_id,
        org_path=principal.org_path,
    )


@router.post("/devices/pair", response_model=DeviceTokenResponse, tags=["devices"])
async def pair_device(
    body: PairRequest, session: SessionDep, settings: SettingsDep
) -> DeviceTokenResponse:
    """Trade a 6-digit code for a long-lived device token; older device tokens stop working."""
    classroom = await redeem_pairing_code(session, settings, body.code)
    device = Principal(
        role=Role.CLASSROOM,
        org_unit_id=classroom.school_id,
        org_path="",
        name=classroom.name,
        classroom_id=classroom.id,
    )
    audit(
        session,
        device,
        "classroom.paired",
        f"classroom:{classroom.id}",
        {"token_version": classroom.device_token_version},
    )
    return DeviceTokenResponse(
        device_token=issue_device_token(settings, classroom),
        classroom_id=classroom.id,
        classroom_name=classroom.name,
    )
