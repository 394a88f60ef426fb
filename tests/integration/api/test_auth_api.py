"""Login, refresh, `me`, bad tokens, and classroom device pairing."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import sqlalchemy as sa

from server.db.models import PairingCode, utcnow
from server.tokens import TokenType, encode
from tests.integration.api.conftest import SECRET, World, password_for


async def _login(world: World, login: str, password: str | None = None) -> dict:
    r = await world.client.post(
        "/api/auth/login", json={"login": login, "password": password or password_for(login)}
    )
    return {"status": r.status_code, **r.json()}


async def test_login_returns_tokens_that_identify_the_user(world: World) -> None:
    tokens = await _login(world, "teacher")
    assert tokens["status"] == 200 and tokens["token_type"] == "bearer"
    r = await world.client.get(
        "/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert r.status_code == 200
    me = r.json()
    assert me["role"] == "teacher"
    assert me["user_id"] == world.seed.accounts["teacher"].user_id
    assert me["org_unit_id"] == world.seed.main_school_id


async def test_wrong_password_and_unknown_login_are_the_same_401(world: World) -> None:
    wrong = await _login(world, "teacher", "not-the-password")
    unknown = await _login(world, "nobody", "whatever-123")
    assert wrong["status"] == unknown["status"] == 401
    assert wrong["error"] == unknown["error"]
    assert wrong["error"]["code"] == "unauthenticated"


async def test_refresh_token_gives_new_access_token(world: World) -> None:
    tokens = await _login(world, "evaluator")
    r = await world.client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 200
    access = r.json()["access_token"]
    r = await world.client.get("/api/me", headers={"Authorization": f"Bearer {access}"})
    assert r.json()["role"] == "evaluator"


async def test_access_token_is_not_a_refresh_token_and_vice_versa(world: World) -> None:
    tokens = await _login(world, "teacher")
    r = await world.client.post("/api/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert r.status_code == 401
    r = await world.client.get(
        "/api/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


async def test_expired_access_token_is_401_token_expired(world: World) -> None:
    uid = world.seed.accounts["teacher"].user_id
    expired = jwt.encode(
        {"sub": str(uid), "typ": "access", "exp": int(time.time()) - 5}, SECRET, algorithm="HS256"
    )
    r = await world.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "token_expired"


async def test_forged_token_is_401_unauthenticated(world: World) -> None:
    uid = world.seed.accounts["admin"].user_id
    forged = encode("another-secret-" + "y" * 40, TokenType.ACCESS, {"sub": str(uid)}, 600)
    for header in (f"Bearer {forged}", "Bearer not.a.jwt", "Basic dXNlcjpwdw=="):
        r = await world.client.get("/api/me", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["error"]["code"] == "unauthenticated"


async def test_missing_token_is_401(world: World) -> None:
    r = await world.client.get("/api/lessons")
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message", "details"}


async def test_deactivated_user_token_stops_working(world: World) -> None:
    uid = world.seed.accounts["teacher"].user_id
    r = await world.request("county_admin", "PATCH", f"/api/users/{uid}", json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await world.request("teacher", "GET", "/api/me")).status_code == 401
    assert (await _login(world, "teacher"))["status"] == 401


async def _pairing_code(world: World, classroom_id: int) -> str:
    r = await world.request("county_admin", "POST", f"/api/classrooms/{classroom_id}/pairing-code")
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert len(code) == 6 and code.isdigit()
    return str(code)


async def _pair(world: World, code: str) -> tuple[int, dict]:
    r = await world.client.post("/api/devices/pair", json={"code": code})
    return r.status_code, r.json()


async def test_device_pairs_with_code_and_acts_as_its_classroom(world: World) -> None:
    room = world.seed.receiving_classroom_ids[1]
    status, body = await _pair(world, await _pairing_code(world, room))
    assert status == 200 and body["classroom_id"] == room
    headers = {"Authorization": f"Bearer {body['device_token']}"}
    me = (await world.client.get("/api/me", headers=headers)).json()
    assert (me["role"], me["classroom_id"], me["user_id"]) == ("classroom", room, None)
    lessons = (await world.client.get("/api/lessons", headers=headers)).json()
    assert [x["id"] for x in lessons["items"]] == world.seed.lesson_ids
    r = await world.request("admin", "GET", f"/api/classrooms/{room}")
    assert r.json()["device_paired_at"] is not None


async def test_pairing_code_is_single_use(world: World) -> None:
    code = await _pairing_code(world, world.seed.receiving_classroom_ids[0])
    assert (await _pair(world, code))[0] == 200
    status, body = await _pair(world, code)
    assert status == 401
    assert body["error"]["code"] == "pairing_code_invalid"
    assert body["error"]["details"] == {"reason": "used"}


async def test_expired_pairing_code_is_refused(world: World) -> None:
    code = await _pairing_code(world, world.seed.receiving_classroom_ids[0])
    async with world.db.session() as session:
        await session.execute(
            sa.update(PairingCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    status, body = await _pair(world, code)
    assert status == 401 and body["error"]["details"] == {"reason": "expired"}


async def test_unknown_or_malformed_pairing_code_is_refused(world: World) -> None:
    code = await _pairing_code(world, world.seed.receiving_classroom_ids[0])
    other = f"{(int(code) + 1) % 1_000_000:06d}"
    status, body = await _pair(world, other)
    assert status == 401 and body["error"]["details"] == {"reason": "unknown"}
    assert (await _pair(world, "12ab56"))[0] == 422


async def test_pairing_again_revokes_the_old_device_token(world: World) -> None:
    room = world.seed.receiving_classroom_ids[2]
    _, first = await _pair(world, await _pairing_code(world, room))
    _, second = await _pair(world, await _pairing_code(world, room))
    old = await world.client.get(
        "/api/me", headers={"Authorization": f"Bearer {first['device_token']}"}
    )
    new = await world.client.get(
        "/api/me", headers={"Authorization": f"Bearer {second['device_token']}"}
    )
    assert old.status_code == 401 and new.status_code == 200


async def test_new_pairing_code_voids_the_previous_unused_one(world: World) -> None:
    room = world.seed.receiving_classroom_ids[0]
    first = await _pairing_code(world, room)
    second = await _pairing_code(world, room)
    if first != second:
        assert (await _pair(world, first))[0] == 401
    assert (await _pair(world, second))[0] == 200


async def test_unpairing_revokes_device_token(world: World) -> None:
    room = world.seed.main_classroom_id
    r = await world.request("admin", "DELETE", f"/api/classrooms/{room}/device")
    assert r.status_code == 204
    assert (await world.request(f"device:{room}", "GET", "/api/me")).status_code == 401
