"""Usage statistics against hand-computed sums of `known_week` (conftest), SQLite and PG.

The week 2026-03-02..08 in Asia/Shanghai holds, for 正蓝旗 (the main school):
L7 Mon 00:30 local, ended on time (0 s), 30 min, 1 booked, 0 connected;
L1 Mon, ended 120 s late (on time), 40 min, 3 booked, 2 connected, pupils 30+10+5,
   evaluations 43 and 45, recordings 1 ready + 1 failed, quality (0.02,100,0.1),(0.06,300,0.5);
L2 Tue, ended 600 s late (not on time), 35 min, 2 booked, 1 connected, pupils 12,
   1 ready recording, quality (0.10,200,1.0);
L3 Wed cancelled; L4 Thu scheduled, never held.
多伦县 holds L5 Fri, 60 s early, 45 min, 1 booked, 1 connected, pupils 7.
L6 (Mon 00:30 local of the next week) and L8 (April) lie outside.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa

from server.db.models import AuditLog
from tests.integration.api.conftest import World
from tests.integration.stats.conftest import KnownWeek

WEEK = {"from": "2026-03-02", "to": "2026-03-08"}

COUNTY = {
    "lessons_scheduled": 5,
    "lessons_held": 3,
    "lessons_cancelled": 1,
    "lessons_on_time": 2,
    "on_time_share": round(2 / 3, 4),
    "start_delay_seconds_total": 720.0,
    "mean_start_delay_seconds": 240.0,
    "minutes_taught": 105.0,
    "receivers_booked": 6,
    "receivers_connected": 3,
    "receivers_per_lesson": 1.0,
    "receivers_connected_share": 0.5,
    "pupils_reported": 57,
    "evaluations": 2,
    "mean_evaluation_score": 44.0,
    "lessons_recorded": 2,
    "recordings_ready": 2,
    "quality_samples": 3,
    "mean_loss": 0.06,
    "mean_rtt_ms": 200.0,
    "mean_low_layer_share": round(1.6 / 3, 4),
    "teaching_points": 3,
    "teaching_points_active": 2,
    "teaching_points_active_share": round(2 / 3, 4),
    "held_share": 0.6,
    "recorded_share": round(2 / 3, 4),
}

OTHER_COUNTY = {
    "lessons_scheduled": 1,
    "lessons_held": 1,
    "lessons_cancelled": 0,
    "lessons_on_time": 1,
    "mean_start_delay_seconds": -60.0,
    "minutes_taught": 45.0,
    "receivers_booked": 1,
    "receivers_connected": 1,
    "pupils_reported": 7,
    "evaluations": 0,
    "mean_evaluation_score": None,
    "recordings_ready": 0,
    "quality_samples": 0,
    "mean_loss": None,
    "teaching_points": 1,
    "teaching_points_active": 1,
}

PROVINCE = {
    "lessons_scheduled": 6,
    "lessons_held": 4,
    "lessons_cancelled": 1,
    "lessons_on_time": 3,
    "mean_start_delay_seconds": 165.0,
    "minutes_taught": 150.0,
    "receivers_booked": 7,
    "receivers_connected": 4,
    "pupils_reported": 64,
    "evaluations": 2,
    "mean_evaluation_score": 44.0,
    "recordings_ready": 2,
    "quality_samples": 3,
    "teaching_points": 4,
    "teaching_points_active": 3,
    "teaching_points_active_share": 0.75,
}


def assert_stats(got: dict[str, Any], expected: dict[str, Any]) -> None:
    diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != pytest.approx(v)}
    assert diff == {}, diff


async def get_ok(world: World, who: str, url: str, **params: Any) -> dict[str, Any]:
    r = await world.request(who, "GET", url, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_county_summary_matches_hand_computed(world: World, known_week: KnownWeek) -> None:
    body = await get_ok(
        world, "county_admin", f"/api/stats/units/{world.seed.county_id}/summary", **WEEK
    )
    assert body["period"] == {
        "first": "2026-03-02",
        "last": "2026-03-08",
        "tz": "Asia/Shanghai",
        "days": 7,
        "on_time_tolerance": 300,
    }
    assert_stats(body["stats"], COUNTY)


async def test_tolerance_changes_on_time_count(world: World, known_week: KnownWeek) -> None:
    url = f"/api/stats/units/{world.seed.county_id}/summary"
    strict = await get_ok(world, "county_admin", url, tolerance=60, **WEEK)
    assert strict["stats"]["lessons_on_time"] == 1  # only L7 (0 s)
    lax = await get_ok(world, "county_admin", url, tolerance=600, **WEEK)
    assert lax["stats"]["lessons_on_time"] == 3


async def test_province_rolls_up_both_counties(world: World, known_week: KnownWeek) -> None:
    body = await get_ok(
        world, "admin", f"/api/stats/units/{world.seed.province_id}/summary", **WEEK
    )
    assert_stats(body["stats"], PROVINCE)


async def test_city_children_are_the_two_counties(world: World, known_week: KnownWeek) -> None:
    body = await get_ok(world, "admin", f"/api/stats/units/{world.seed.city_id}/children", **WEEK)
    by_id = {row["unit"]["id"]: row["stats"] for row in body["items"]}
    assert set(by_id) == {world.seed.county_id, world.seed.other_county_id}
    assert_stats(by_id[world.seed.county_id], COUNTY)
    assert_stats(by_id[world.seed.other_county_id], OTHER_COUNTY)


async def test_township_children_are_schools_with_their_teaching_points(
    world: World, known_week: KnownWeek
) -> None:
    s = world.seed
    body = await get_ok(world, "county_admin", f"/api/stats/units/{s.township_id}/children", **WEEK)
    by_id = {row["unit"]["id"]: row["stats"] for row in body["items"]}
    assert set(by_id) == {s.main_school_id, *s.village_school_ids}
    assert by_id[s.main_school_id]["lessons_scheduled"] == 5
    assert by_id[s.main_school_id]["teaching_points"] == 0
    village = [by_id[v] for v in s.village_school_ids]
    assert [v["lessons_scheduled"] for v in village] == [0, 0, 0]
    assert [v["teaching_points"] for v in village] == [1, 1, 1]
    assert [v["teaching_points_active"] for v in village] == [1, 1, 0]


async def test_daily_series_puts_lessons_on_local_days(world: World, known_week: KnownWeek) -> None:
    body = await get_ok(
        world,
        "county_admin",
        f"/api/stats/units/{world.seed.county_id}/series",
        granularity="day",
        **WEEK,
    )
    days = [
        (b["first"], b["stats"]["lessons_scheduled"], b["stats"]["lessons_held"])
        for b in body["items"]
    ]
    assert days == [
        ("2026-03-02", 2, 2),  # L7 (Sunday in UTC) and L1
        ("2026-03-03", 1, 1),
        ("2026-03-04", 1, 0),
        ("2026-03-05", 1, 0),
        ("2026-03-06", 0, 0),
        ("2026-03-07", 0, 0),
        ("2026-03-08", 0, 0),
    ]
    assert body["items"][0]["stats"]["minutes_taught"] == 70.0


async def test_weekly_series_starts_on_monday_and_clips(
    world: World, known_week: KnownWeek
) -> None:
    body = await get_ok(
        world,
        "county_admin",
        f"/api/stats/units/{world.seed.county_id}/series",
        granularity="week",
        **{"from": "2026-03-04", "to": "2026-03-10"},
    )
    weeks = [(b["first"], b["last"], b["stats"]["lessons_scheduled"]) for b in body["items"]]
    assert weeks == [("2026-03-04", "2026-03-08", 2), ("2026-03-09", "2026-03-10", 1)]


async def test_lesson_list_pages_in_start_order(world: World, known_week: KnownWeek) -> None:
    lw = known_week.lessons
    url = f"/api/stats/units/{world.seed.county_id}/lessons"
    first = await get_ok(world, "county_admin", url, limit=2, offset=0, **WEEK)
    assert first["total"] == 5
    assert [r["lesson_id"] for r in first["items"]] == [lw["L7"], lw["L1"]]
    second = await get_ok(world, "county_admin", url, limit=2, offset=2, **WEEK)
    assert [r["lesson_id"] for r in second["items"]] == [lw["L2"], lw["L3"]]
    l1 = first["items"][1]
    assert_stats(
        l1,
        {
            "state": "ended",
            "start_delay_seconds": 120.0,
            "on_time": True,
            "minutes_taught": 40.0,
            "receivers_booked": 3,
            "receivers_connected": 2,
            "pupils_reported": 45,
            "evaluations": 2,
            "mean_evaluation_score": 44.0,
            "recordings_ready": 1,
            "quality_samples": 2,
            "mean_loss": 0.04,
            "mean_rtt_ms": 200.0,
            "mean_low_layer_share": 0.3,
        },
    )
    cancelled = second["items"][1]
    assert cancelled["state"] == "cancelled" and cancelled["start_delay_seconds"] is None
    bad = await world.request("county_admin", "GET", url, params={"limit": 501, **WEEK})
    assert bad.status_code == 422


async def test_out_of_scope_unit_is_403(world: World, known_week: KnownWeek) -> None:
    s = world.seed
    for who, unit in [
        ("county_admin", s.other_county_id),
        ("county_admin", s.city_id),
        ("other_county_admin", s.main_school_id),
        ("teacher", s.main_school_id),
        ("evaluator", s.county_id),
    ]:
        r = await world.request(who, "GET", f"/api/stats/units/{unit}/summary", params=WEEK)
        assert r.status_code == 403, (who, unit, r.text)
        assert r.json()["error"]["code"] == "permission_denied"
    r = await world.request(
        "anonymous", "GET", f"/api/stats/units/{s.county_id}/summary", params=WEEK
    )
    assert r.status_code == 401


async def test_bad_ranges_are_422_with_a_clear_message(world: World) -> None:
    url = f"/api/stats/units/{world.seed.county_id}/summary"
    too_long = await world.request(
        "county_admin", "GET", url, params={"from": "2025-01-01", "to": "2026-03-01"}
    )
    assert too_long.status_code == 422
    err = too_long.json()["error"]
    assert err["code"] == "validation_failed"
    assert "at most 400 days" in err["message"]
    assert err["details"] == {"days": 425, "max_days": 400}
    backwards = await world.request(
        "county_admin", "GET", url, params={"from": "2026-03-08", "to": "2026-03-02"}
    )
    assert (
        backwards.status_code == 422
        and "ends before it starts" in backwards.json()["error"]["message"]
    )
    bad_tz = await world.request("county_admin", "GET", url, params={**WEEK, "tz": "Mars/Base"})
    assert bad_tz.status_code == 422
    missing = await world.request("county_admin", "GET", url, params={"from": "2026-03-02"})
    assert missing.status_code == 422
    unknown = await world.request("admin", "GET", "/api/stats/units/999999/summary", params=WEEK)
    assert unknown.status_code == 404


async def test_csv_and_xlsx_exports_carry_the_table_and_are_audited(
    world: World, known_week: KnownWeek
) -> None:
    from openpyxl import load_workbook

    url = f"/api/stats/units/{world.seed.city_id}/export"
    r = await world.request("admin", "GET", url, params={**WEEK, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_name = {row["unit_name"]: row for row in rows}
    assert set(by_name) == {"正蓝旗", "多伦县"}
    assert by_name["正蓝旗"]["lessons_scheduled"] == "5"
    assert by_name["多伦县"]["pupils_reported"] == "7"

    r = await world.request(
        "county_admin",
        "GET",
        f"/api/stats/units/{world.seed.county_id}/export",
        params={**WEEK, "format": "xlsx", "table": "lessons"},
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    values = list(sheet.values)
    assert values[0][0] == "lesson_id" and len(values) == 1 + 5
    assert values[2][values[0].index("pupils_reported")] == 45

    async with world.db.session() as session:
        entries = (
            await session.scalars(
                sa.select(AuditLog).where(AuditLog.action == "stats.exported").order_by(AuditLog.id)
            )
        ).all()
    assert [(e.actor, e.details["format"], e.details["table"]) for e in entries] == [
        (f"user-{world.seed.accounts['admin'].user_id}", "csv", "children"),
        (f"user-{world.seed.accounts['county_admin'].user_id}", "xlsx", "lessons"),
    ]
    out = await world.request(
        "other_county_admin",
        "GET",
        url.replace(str(world.seed.city_id), str(world.seed.county_id)),
        params=WEEK,
    )
    assert out.status_code == 403


async def test_quality_ingest_from_a_classroom_of_the_lesson(
    world: World, known_week: KnownWeek
) -> None:
    s = world.seed
    live = known_week.lessons["L8"]
    body = {"lesson_id": live, "loss": 0.04, "rtt_ms": 180, "low_layer_share": 0.25, "seconds": 60}
    r1 = s.receiving_classroom_ids[0]
    r = await world.request(f"device:{r1}", "POST", "/api/stats/quality", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["classroom_id"] == r1 and r.json()["identity"] == f"classroom-{r1}"
    rows = await get_ok(
        world,
        "admin",
        f"/api/stats/units/{s.county_id}/lessons",
        **{"from": "2026-04-01", "to": "2026-04-01"},
    )
    assert rows["items"][0]["quality_samples"] == 1 and rows["items"][0]["mean_loss"] == 0.04

    bad = await world.request(
        f"device:{r1}", "POST", "/api/stats/quality", json={**body, "loss": 1.5}
    )
    assert bad.status_code == 422
    stranger = await world.request(
        f"device:{s.other_classroom_id}", "POST", "/api/stats/quality", json=body
    )
    assert stranger.status_code == 403
    scheduled = known_week.lessons["L4"]
    r3 = s.receiving_classroom_ids[2]
    early = await world.request(
        f"device:{r3}", "POST", "/api/stats/quality", json={**body, "lesson_id": scheduled}
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_state"


async def test_lesson_export_beyond_the_row_limit_is_422(
    world: World, known_week: KnownWeek
) -> None:
    limits = world.settings.supervision
    saved = limits.max_export_rows
    limits.max_export_rows = 4  # the county has 5 lessons that week
    try:
        r = await world.request(
            "county_admin",
            "GET",
            f"/api/stats/units/{world.seed.county_id}/export",
            params={**WEEK, "table": "lessons"},
        )
    finally:
        limits.max_export_rows = saved
    assert r.status_code == 422
    assert r.json()["error"]["details"] == {"rows": 5, "max_rows": 4}
    assert "shorter period" in r.json()["error"]["message"]
