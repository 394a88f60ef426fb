"""Dependencies of the routes, as `Annotated` aliases.

`SessionDep` is one unit of work per request (commit on success, rollback on
error); `CurrentPrincipal` authenticates the bearer token (an access token of a
user or a classroom's device token) and fails with 401 inside the dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Passwords, Principal, principal_from_token
from server.db.engine import Database
from server.errors import Unauthenticated
from server.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="access token or classroom device token")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def get_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
# scope="function": the unit of work commits before the response leaves, so a client that
# acts on a reply (pairs a device, then calls /api/me) always reads what was written.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    return await principal_from_token(session, settings, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


class Paging:
    """`?limit=&offset=` with bounds; every list endpoint answers `{items, total, ...}`."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]
