"""Authentication: passwords, access/refresh/device tokens, and who is calling.

The result of authentication is a `Principal`: a person (user account) or a
paired classroom device, with its role and the materialized path of its home
unit. Everything about *what* a principal may do lives in `server.policy`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Classroom, OrgUnit, PairingCode, Role, User, utcnow
from server.errors import PairingCodeInvalid, Unauthenticated
from server.settings import Settings
from server.tokens import TokenType, decode, encode


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, or a classroom device (user_id is None)."""

    role: Role
    org_unit_id: int
    org_path: str
    name: str
    user_id: int | None = None
    classroom_id: int | None = None

    @property
    def identity(self) -> str:
        if self.user_id is not None:
            return f"user-{self.user_id}"
        return f"classroom-{self.classroom_id}"

    @property
    def is_device(self) -> bool:
        return self.user_id is None


class Passwords:
    """argon2id hashing with costs from settings (tests use cheap ones)."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.auth.password_time_cost,
            memory_cost=settings.auth.password_memory_kib,
        )
        self._dummy: str | None = None

    @property
    def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False

    async def hash_async(self, password: str) -> str:
        """Hash off the event loop: argon2 is deliberately CPU and memory heavy."""
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def issue_user_tokens(settings: Settings, user: User) -> TokenPair:
    secret = settings.ensure_secret()
    claims = {"sub": str(user.id), "role": user.role.value}
    auth = settings.auth
    return TokenPair(
        access_token=encode(
            secret, TokenType.ACCESS, claims, auth.access_token_ttl, auth.algorithm
        ),
        refresh_token=encode(
            secret, TokenType.REFRESH, claims, auth.refresh_token_ttl, auth.algorithm
        ),
        expires_in=auth.access_token_ttl,
    )


def issue_device_token(settings: Settings, classroom: Classroom) -> str:
    claims = {"sub": f"classroom:{classroom.id}", "ver": classroom.device_token_version}
    return encode(
        settings.ensure_secret(),
        TokenType.DEVICE,
        claims,
        settings.auth.device_token_ttl,
        settings.auth.algorithm,
    )


async def authenticate_password(
    session: AsyncSession, passwords: Passwords, login: str, password: str
) -> User:
    user = await session.scalar(sa.select(User).where(User.login == login))
    # Verify against a dummy hash when the login is unknown so timing does not tell.
    stored = user.password_hash if user else passwords.dummy_hash
    ok = await passwords.verify_async(stored, password)
    if user is None or not ok or not user.is_active:
        raise Unauthenticated("wrong login or password")
    if passwords.needs_rehash(user.password_hash):
        # Costs were raised in settings: upgrade the stored hash while we know the password.
        user.password_hash = await passwords.hash_async(password)
    return user


async def principal_from_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """Resolve a bearer token (access or device) to a live principal, or raise 401."""
    secret = settings.ensure_secret()
    alg = settings.auth.algorithm
    try:
        claims = decode(secret, token, TokenType.ACCESS, alg)
    except Unauthenticated as exc:
        if type(exc) is not Unauthenticated:  # expired access token: say so
            raise
        claims = decode(secret, token, TokenType.DEVICE, alg)
        return await _device_principal(session, claims)
    return await user_principal(session, _user_id(claims))


async def user_from_refresh(session: AsyncSession, settings: Settings, token: str) -> User:
    claims = decode(settings.ensure_secret(), token, TokenType.REFRESH, settings.auth.algorithm)
    user = await session.get(User, _user_id(claims))
    if user is None or not user.is_active:
        raise Unauthenticated("account no longer active")
    return user


async def user_principal(session: AsyncSession, user_id: int) -> Principal:
    row = (
        await session.execute(
            sa.select(User, OrgUnit.path)
            .join(OrgUnit, User.org_unit_id == OrgUnit.id)
            .where(User.id == user_id)
        )
    ).first()
    if row is None or not row[0].is_active:
        raise Unauthenticated("account no longer active")
    user, path = row
    return Principal(
        role=user.role,
        org_unit_id=user.org_unit_id,
        org_path=path,
        name=user.display_name,
        user_id=user.id,
        classroom_id=user.classroom_id,
    )


async def _device_principal(session: AsyncSession, claims: dict[str, object]) -> Principal:
    sub = str(claims.get("sub", ""))
    if not sub.startswith("classroom:"):
        raise Unauthenticated("invalid device token")
    try:
        classroom_id = int(sub.split(":", 1)[1])
    except ValueError as exc:
        raise Unauthenticated("invalid device token") from exc
    row = (
        await session.execute(
            sa.select(Classroom, OrgUnit.path)
            .join(OrgUnit, Classroom.school_id == OrgUnit.id)
            .where(Classroom.id == classroom_id)
        )
    ).first()
    if row is None or row[0].device_token_version != claims.get("ver"):
        raise Unauthenticated("device token revoked; pair the classroom again")
    classroom, path = row
    return Principal(
        role=Role.CLASSROOM,
        org_unit_id=classroom.school_id,
        org_path=path,
        name=classroom.name,
        classroom_id=classroom.id,
    )


def _user_id(claims: dict[str, object]) -> int:
    try:
        return int(str(claims.get("sub")))
    except ValueError as exc:
        raise Unauthenticated("invalid token subject") from exc


# --- device pairing -------------------------------------------------------------------------


def _hash_code(settings: Settings, code: str) -> str:
    # Keyed hash: a leaked table of 6-digit hashes can't be reversed by trying all codes.
    return hmac.new(settings.ensure_secret().encode(), code.encode(), hashlib.sha256).hexdigest()


async def create_pairing_code(
    session: AsyncSession, settings: Settings, classroom: Classroom, created_by: int | None
) -> tuple[str, datetime]:
    """A fresh 6-digit code for the classroom; earlier unused codes stop working."""
    now = utcnow()
    await session.execute(
        sa.update(PairingCode)
        .where(PairingCode.classroom_id == classroom.id, PairingCode.used_at.is_(None))
        .values(used_at=now)
    )
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        code_hash = _hash_code(settings, code)
        taken = await session.scalar(
            sa.select(PairingCode.id).where(
                PairingCode.code_hash == code_hash,
                PairingCode.used_at.is_(None),
                PairingCode.expires_at > now,
            )
        )
        if taken is None:
            break
    expires = now + timedelta(seconds=settings.auth.pairing_code_ttl)
    session.add(
        PairingCode(
            classroom_id=classroom.id,
            code_hash=code_hash,
            expires_at=expires,
            created_by=created_by,
        )
    )
    return code, expires


async def redeem_pairing_code(session: AsyncSession, settings: Settings, code: str) -> Classroom:
    """Consume a code; bump the classroom's token version so older device tokens die."""
    now = utcnow()
    pairing = await session.scalar(
        sa.select(PairingCode)
        .where(PairingCode.code_hash == _hash_code(settings, code))
        .order_by(PairingCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    if pairing is None:
        raise PairingCodeInvalid("unknown pairing code", {"reason": "unknown"})
    if pairing.used_at is not None:
        raise PairingCodeInvalid("pairing code already used", {"reason": "used"})
    if pairing.expires_at <= now:
        raise PairingCodeInvalid("pairing code expired", {"reason": "expired"})
    pairing.used_at = now
    classroom = await session.get(Classroom, pairing.classroom_id, with_for_update=True)
    assert classroom is not None
    classroom.device_token_version += 1
    classroom.device_paired_at = now
    await session.flush()
    return classroom
