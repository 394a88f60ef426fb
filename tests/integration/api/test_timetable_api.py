"""Timetable rules over HTTP: double-booking is a 409 naming the clash, bad times a 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.db.models import Lesson
from tests.integration.api.conftest import World


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def _seeded_lesson(world: World, index: int = 0) -> dict[str, Any]:
    r = await world.request("admin", "GET", f"/api/lessons/{world.seed.lesson_ids[index]}")
    assert r.status_code == 200
    return r.json()


async def _new_teacher(world: World, login: str = "t2") -> int:
    r = await world.request(
        "admin",
        "POST",
        "/api/users",
        json={
            "login": login,
            "display_name": "另一位老师",
            "password": "long-enough-1",
            "role": "teacher",
            "org_unit_id": world.seed.main_school_id,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _new_classroom(world: World, name: str, kind: str = "main") -> int:
    r = await world.request(
        "admin",
        "POST",
        "/api/classrooms",
        json={"school_id": world.seed.main_school_id, "name": name, "kind": kind},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _lesson_count(world: World) -> int:
    async with world.db.session() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Lesson)) or 0)


def _body(existing: dict[str, Any], **over: Any) -> dict[str, Any]:
    start = datetime.fromisoformat(existing["starts_at"]) + timedelta(minutes=10)
    body = {
        "title": "加课",
        "teacher_id": existing["teacher_id"],
        "main_classroom_id": existing["main_classroom_id"],
        "receiving_classroom_ids": [],
        "starts_at": _iso(start),
        "ends_at": _iso(start + timedelta(minutes=40)),
    }
    body.update(over)
    return body


async def test_teacher_double_booking_is_409_naming_teacher(world: World) -> None:
    existing = await _seeded_lesson(world)
    other_room = await _new_classroom(world, "第二录播室")
    before = await _lesson_count(world)
    r = await world.request(
        "admin", "POST", "/api/lessons", json=_body(existing, main_classroom_id=other_room)
    )
    assert r.status_code == 409, r.text
    clashes = r.json()["error"]["details"]["clashes"]
    assert {
        "resource": "teacher",
        "resource_id": existing["teacher_id"],
        "lesson_id": existing["id"],
    }.items() <= clashes[0].items()
    assert clashes[0]["starts_at"].startswith(existing["starts_at"][:16])
    assert await _lesson_count(world) == before


async def test_main_classroom_double_booking_is_409_naming_classroom(world: World) -> None:
    existing = await _seeded_lesson(world)
    teacher = await _new_teacher(world)
    r = await world.request(
        "admin", "POST", "/api/lessons", json=_body(existing, teacher_id=teacher)
    )
    assert r.status_code == 409
    (clash,) = r.json()["error"]["details"]["clashes"]
    assert clash["resource"] == "main_classroom"
    assert clash["resource_id"] == existing["main_classroom_id"]
    assert clash["lesson_id"] == existing["id"]


async def test_receiving_classroom_double_booking_is_409_naming_that_classroom(
    world: World,
) -> None:
    existing = await _seeded_lesson(world)
    teacher = await _new_teacher(world)
    room = await _new_classroom(world, "第二录播室")
    busy = existing["receiving_classroom_ids"][1]
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(
            existing, teacher_id=teacher, main_classroom_id=room, receiving_classroom_ids=[busy]
        ),
    )
    assert r.status_code == 409
    (clash,) = r.json()["error"]["details"]["clashes"]
    assert (clash["resource"], clash["resource_id"], clash["lesson_id"]) == (
        "receiving_classroom",
        busy,
        existing["id"],
    )


async def test_back_to_back_lessons_do_not_clash(world: World) -> None:
    existing = await _seeded_lesson(world)
    end = datetime.fromisoformat(existing["ends_at"])
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(existing, starts_at=_iso(end), ends_at=_iso(end + timedelta(minutes=20))),
    )
    assert r.status_code == 201, r.text


async def test_cancelled_lesson_frees_its_slot(world: World) -> None:
    existing = await _seeded_lesson(world)
    r = await world.request("admin", "POST", f"/api/lessons/{existing['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = await world.request("admin", "POST", "/api/lessons", json=_body(existing))
    assert r.status_code == 201, r.text


async def test_lesson_in_the_past_is_422(world: World) -> None:
    existing = await _seeded_lesson(world)
    past = datetime.now(UTC) - timedelta(days=1)
    before = await _lesson_count(world)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(existing, starts_at=_iso(past), ends_at=_iso(past + timedelta(minutes=40))),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    assert await _lesson_count(world) == before


async def test_lesson_ending_before_it_starts_is_422(world: World) -> None:
    existing = await _seeded_lesson(world)
    start = datetime.now(UTC) + timedelta(days=2)
    for end in (start, start - timedelta(minutes=5)):
        r = await world.request(
            "admin",
            "POST",
            "/api/lessons",
            json=_body(existing, starts_at=_iso(start), ends_at=_iso(end)),
        )
        assert r.status_code == 422, r.text
        assert "end after" in r.json()["error"]["message"]


async def test_naive_datetime_is_422(world: World) -> None:
    existing = await _seeded_lesson(world)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(existing, starts_at="2030-01-01T08:00:00", ends_at="2030-01-01T08:40:00"),
    )
    assert r.status_code == 422


async def test_weekly_recurrence_expands_one_lesson_per_week(world: World) -> None:
    existing = await _seeded_lesson(world)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(
            existing,
            starts_at=_iso(start),
            ends_at=_iso(start + timedelta(minutes=45)),
            repeat_weekly_until=_iso(start + timedelta(weeks=3, hours=1)),
        ),
    )
    assert r.status_code == 201, r.text
    series = r.json()
    starts = [datetime.fromisoformat(x["starts_at"]) for x in series["items"]]
    assert starts == [start + timedelta(weeks=i) for i in range(4)]
    assert series["recurrence_group"]
    assert {x["recurrence_group"] for x in series["items"]} == {series["recurrence_group"]}


async def test_weekly_recurrence_with_one_clash_creates_nothing(world: World) -> None:
    existing = await _seeded_lesson(world)
    start = datetime.fromisoformat(existing["starts_at"]) - timedelta(weeks=0)
    # Week 3 of the series is booked already.
    blocker_start = start + timedelta(weeks=2)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(
            existing,
            title="占位",
            starts_at=_iso(blocker_start),
            ends_at=_iso(blocker_start + timedelta(minutes=40)),
        ),
    )
    assert r.status_code == 201
    blocker = r.json()["items"][0]["id"]
    before = await _lesson_count(world)
    series_start = start + timedelta(weeks=1)
    r = await world.request(
        "admin",
        "POST",
        "/api/lessons",
        json=_body(
            existing,
            starts_at=_iso(series_start),
            ends_at=_iso(series_start + timedelta(minutes=40)),
            repeat_weekly_until=_iso(series_start + timedelta(weeks=4)),
        ),
    )
    assert r.status_code == 409
    assert blocker in {c["lesson_id"] for c in r.json()["error"]["details"]["clashes"]}
    assert await _lesson_count(world) == before


async def test_moving_a_lesson_onto_another_is_409(world: World) -> None:
    first = await _seeded_lesson(world, 0)
    second = await _seeded_lesson(world, 1)
    r = await world.request(
        "admin",
        "PATCH",
        f"/api/lessons/{second['id']}",
        json={"starts_at": first["starts_at"], "ends_at": first["ends_at"]},
    )
    assert r.status_code == 409
    assert {c["lesson_id"] for c in r.json()["error"]["details"]["clashes"]} == {first["id"]}
    unchanged = await _seeded_lesson(world, 1)
    assert unchanged["starts_at"] == second["starts_at"]


async def test_moving_a_lesson_within_its_own_slot_is_allowed(world: World) -> None:
    first = await _seeded_lesson(world, 0)
    later = datetime.fromisoformat(first["ends_at"]) + timedelta(minutes=5)
    r = await world.request(
        "teacher", "PATCH", f"/api/lessons/{first['id']}", json={"ends_at": _iso(later)}
    )
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["ends_at"]) == later


async def test_timetable_filters_by_day_teacher_and_classroom(world: World) -> None:
    existing = await _seeded_lesson(world)
    day = datetime.fromisoformat(existing["starts_at"]).date().isoformat()
    r = await world.request(
        "admin",
        "GET",
        "/api/lessons",
        params={"day": day, "tz": "UTC", "teacher_id": existing["teacher_id"]},
    )
    assert r.status_code == 200
    assert existing["id"] in [x["id"] for x in r.json()["items"]]
    r = await world.request(
        "admin", "GET", "/api/lessons", params={"classroom_id": world.seed.other_classroom_id}
    )
    assert r.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    r = await world.request("admin", "GET", "/api/lessons", params={"limit": 1, "offset": 1})
    body = r.json()
    assert body["total"] == 3 and len(body["items"]) == 1
    assert body["items"][0]["id"] == world.seed.lesson_ids[1]


async def test_concurrent_bookings_of_one_slot_let_exactly_one_through(world: World) -> None:
    import asyncio

    existing = await _seeded_lesson(world)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    body = _body(existing, starts_at=_iso(start), ends_at=_iso(start + timedelta(minutes=40)))
    responses = await asyncio.gather(
        *(world.request("admin", "POST", "/api/lessons", json=body) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
