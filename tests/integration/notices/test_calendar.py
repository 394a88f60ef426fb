"""iCalendar feeds per teacher and per classroom behind secret URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from tests.integration.api.conftest import World


async def _feed(world: World, who: str, kind: str, subject_id: int) -> dict:
    r = await world.request(who, "POST", "/api/calendar/feeds",
                            json={"kind": kind, "subject_id": subject_id})
    assert r.status_code == 201, r.text
    return r.json()


def _events(body: bytes) -> dict[str, dict]:
    cal = Calendar.from_ical(body)
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


async def test_teacher_and_classroom_feeds_list_their_lessons(world: World) -> None:
    seed = world.seed
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    r = await world.request("county_admin", "POST", "/api/lessons", json={
        "title": "蒙古语文 ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ", "teacher_id": seed.accounts["teacher"].user_id,
        "main_classroom_id": seed.main_classroom_id,
        "receiving_classroom_ids": seed.receiving_classroom_ids[2:], "language": "mn",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=40)).isoformat()})
    assert r.status_code == 201 and r.json()["items"][0]["language"] == "mn"
    lesson_id = r.json()["items"][0]["id"]
    feed = await _feed(world, "teacher", "teacher", seed.accounts["teacher"].user_id)
    assert feed["url"].endswith(f"/api/calendar/{feed['token']}.ics")
    got = await world.client.get(f"/api/calendar/{feed['token']}.ics")  # no bearer: the URL is it
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/calendar")
    events = _events(got.content)
    ev = events[f"lesson-{lesson_id}@tongbu"]
    assert str(ev["SUMMARY"]) == "蒙古语文 ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ"
    assert ev.decoded("DTSTART") == start and str(ev["STATUS"]) == "CONFIRMED"
    # The village classroom's feed (made by its admin) has it; cancelled shows as CANCELLED.
    room = seed.receiving_classroom_ids[2]
    room_feed = await _feed(world, "county_admin", "classroom", room)
    await world.request("county_admin", "POST", f"/api/lessons/{lesson_id}/cancel")
    ev = _events((await world.client.get(f"/api/calendar/{room_feed['token']}.ics")).content)[
        f"lesson-{lesson_id}@tongbu"]
    assert str(ev["STATUS"]) == "CANCELLED"
    first_room = await _feed(world, "county_admin", "classroom", seed.receiving_classroom_ids[0])
    other_room = _events(
        (await world.client.get(f"/api/calendar/{first_room['token']}.ics")).content)
    assert f"lesson-{lesson_id}@tongbu" not in other_room


async def test_bad_calendar_requests_get_clear_errors(world: World) -> None:
    seed = world.seed
    teacher_id = seed.accounts["teacher"].user_id
    # Rights: not for another teacher, not out of scope, not for a non-teacher.
    for who, kind, subject in (("other_teacher", "teacher", teacher_id),
                               ("other_county_admin", "classroom", seed.main_classroom_id),
                               ("other_county_admin", "teacher", teacher_id)):
        r = await world.request(who, "POST", "/api/calendar/feeds",
                                json={"kind": kind, "subject_id": subject})
        assert r.status_code == 403, (who, r.text)
    r = await world.request("admin", "POST", "/api/calendar/feeds",
                            json={"kind": "teacher", "subject_id": seed.accounts["admin"].user_id})
    assert r.status_code == 422
    r = await world.request("admin", "POST", "/api/calendar/feeds",
                            json={"kind": "room", "subject_id": 1})
    assert r.status_code == 422
    feed = await _feed(world, "teacher", "teacher", teacher_id)
    cases = {
        f"/api/calendar/{feed['token']}": (400, "bad_request"),          # no .ics
        "/api/calendar/short.ics": (400, "bad_request"),                 # malformed token
        "/api/calendar/" + "x" * 40 + ".ics": (404, "not_found"),        # unknown token
        f"/api/calendar/{feed['token']}.ics?past_days=-1": (422, "validation_failed"),
        f"/api/calendar/{feed['token']}.ics?days=abc": (422, "validation_failed"),
    }
    for url, (code, err) in cases.items():
        r = await world.client.get(url)
        assert r.status_code == code and r.json()["error"]["code"] == err, (url, r.text)
    # Revoked: the URL stops working; revoking twice is a 404.
    assert (await world.request("other_teacher", "DELETE",
                                f"/api/calendar/feeds/{feed['id']}")).status_code == 403
    assert (await world.request("teacher", "DELETE",
                                f"/api/calendar/feeds/{feed['id']}")).status_code == 204
    assert (await world.client.get(f"/api/calendar/{feed['token']}.ics")).status_code == 404
    assert (await world.request("teacher", "DELETE",
                                f"/api/calendar/feeds/{feed['id']}")).status_code == 404
