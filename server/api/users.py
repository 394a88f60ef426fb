"""User accounts. Admins manage users whose home unit is in their scope."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique, paginate
from server.api.deps import CurrentPrincipal, PagingDep, PasswordsDep, SessionDep
from server.api.schemas import Page, UserCreate, UserPublic, UserUpdate
from server.auth import Principal
from server.db.models import Classroom, Lesson, Role, User
from server.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from server.policy import (
    is_admin_over,
    require_admin_over,
    require_can_see_user,
    unit_path,
    visible_users,
)

router = APIRouter(prefix="/api/users", tags=["users"])


async def _get_user(session: AsyncSession, p: Principal, user_id: int) -> tuple[User, str]:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found", {"user_id": user_id})
    path = await unit_path(session, user.org_unit_id)
    require_can_see_user(p, path, user_id)
    return user, path


@router.get("", response_model=Page[UserPublic])
async def list_users(
    session: SessionDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    role: Role | None = None,
    org_unit_id: int | None = None,
) -> Page[UserPublic]:
    query = sa.select(User).where(visible_users(p)).order_by(User.id)
    if role is not None:
        query = query.where(User.role == role)
    if org_unit_id is not None:
        query = query.where(User.org_unit_id == org_unit_id)
    return await paginate(session, query, paging, UserPublic)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: int, session: SessionDep, p: CurrentPrincipal) -> User:
    return (await _get_user(session, p, user_id))[0]


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate, session: SessionDep, passwords: PasswordsDep, p: CurrentPrincipal
) -> User:
    home = await unit_path(session, body.org_unit_id)
    require_admin_over(p, home)
    if body.role is Role.CLASSROOM:
        classroom = await session.get(Classroom, body.classroom_id) if body.classroom_id else None
        if classroom is None or classroom.school_id != body.org_unit_id:
            raise ValidationFailed(
                "a classroom account needs a classroom_id of its school",
                {"classroom_id": body.classroom_id},
            )
    elif body.classroom_id is not None:
        raise ValidationFailed("only classroom accounts have a classroom_id")
    dup = {"login": body.login}
    await ensure_absent(
        session, sa.select(User.id).where(User.login == body.login), "this login is taken", dup
    )
    user = User(
        login=body.login,
        display_name=body.display_name,
        role=body.role,
        org_unit_id=body.org_unit_id,
        classroom_id=body.classroom_id,
        password_hash=await passwords.hash_async(body.password),
    )
    session.add(user)
    await flush_unique(session, "this login is taken", dup)
    audit(
        session,
        p,
        "user.created",
        f"user:{user.id}",
        {"login": user.login, "role": user.role},
        scope_path=home,
    )
    return user


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(
    user_id: int,
    body: UserUpdate,
    session: SessionDep,
    passwords: PasswordsDep,
    p: CurrentPrincipal,
) -> User:
    user, path = await _get_user(session, p, user_id)
    changes = body.model_dump(exclude_unset=True)
    if not is_admin_over(p, path) and "is_active" in changes:
        raise PermissionDenied("only an admin may activate or deactivate accounts")
    current = changes.pop("current_password", None)
    if "password" in changes:
        if user.id == p.user_id and not (
            current and await passwords.verify_async(user.password_hash, current)
        ):
            raise PermissionDenied("give your current password to change it")
        user.password_hash = await passwords.hash_async(changes.pop("password"))
        changes["password"] = "changed"
    for key in ("display_name", "is_active"):
        if key in changes:
            setattr(user, key, changes[key])
    audit(
        session,
        p,
        "user.updated",
        f"user:{user_id}",
        {k: ("***" if k == "password" else v) for k, v in changes.items()},
        scope_path=path,
    )
    return user


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: int, session: SessionDep, p: CurrentPrincipal) -> Response:
    user, path = await _get_user(session, p, user_id)
    require_admin_over(p, path)
    if user.id == p.user_id:
        raise PermissionDenied("you cannot delete your own account")
    if await session.scalar(sa.select(Lesson.id).where(Lesson.teacher_id == user_id).limit(1)):
        raise Conflict(
            "the user still teaches lessons; deactivate the account instead", {"user_id": user_id}
        )
    await session.delete(user)
    await flush_unique(session, "the user is still referenced", {"user_id": user_id})
    audit(session, p, "user.deleted", f"user:{user_id}", {"login": user.login}, scope_path=path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
