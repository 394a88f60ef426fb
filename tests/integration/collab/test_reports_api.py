"""同步评估 reports against hand-computed numbers, on SQLite and PostgreSQL; unit rubrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.auth import Passwords
from server.db.models import OrgUnit, Role
from server.seed import add_user
from tests.integration.api.conftest import World, password_for
from tests.integration.collab.conftest import err

# Two evaluators on lesson 1, one on lesson 2 (rubric: goals 20, interaction 30, media 20,
# outcome 30; total 100).
A1 = {"goals": 18, "interaction": 25, "media": 15, "outcome": 27}  # 85
B1 = {"goals": 16, "interaction": 28, "media": 20, "outcome": 24}  # 88
A2 = {"goals": 10, "interaction": 20, "media": 10, "outcome": 20}  # 60


async def _second_evaluator(world: World) -> str:
    async with world.db.session() as s:
        county = await s.get(OrgUnit, world.seed.county_id)
        assert county is not None
        acc = await add_user(
            s, Passwords(world.settings), login="evaluator2", name="乌云 (评课专家)",
            role=Role.EVALUATOR, unit=county, password=password_for("evaluator2"),
        )
    return f"user:{acc.user_id}"


async def _evaluate(world: World, who: str, lesson: int, scores: dict[str, int],
                    comments: list[tuple[int, str, int | None]] = ()) -> dict[str, Any]:
    r = await world.request(who, "POST", "/api/evaluations", json={
        "lesson_id": lesson, "rubric_id": world.seed.rubric_id, "scores": scores,
        "summary": f"{who} 的总评"})
    assert r.status_code == 201, r.text
    ev = r.json()
    for offset, text, classroom in comments:
        c = await world.request(who, "POST", f"/api/evaluations/{ev['id']}/comments",
                                json={"offset_ms": offset, "text": text, "classroom_id": classroom})
        assert c.status_code == 201, c.text
    return dict(ev)


@pytest.fixture
async def scored(world: World) -> World:
    seed = world.seed
    l1, l2 = seed.lesson_ids[0], seed.lesson_ids[1]
    second = await _second_evaluator(world)
    village = seed.receiving_classroom_ids[1]
    await _evaluate(world, "evaluator", l1, A1, [(120_000, "导入自然", None),
                                                 (30_000, "接收课堂回答积极", village)])
    await _evaluate(world, second, l1, B1, [(60_000, "板书清楚", None)])
    await _evaluate(world, "evaluator", l2, A2)
    return world


async def test_lesson_report_matches_hand_computed_values(scored: World) -> None:
    world = scored
    lesson = world.seed.lesson_ids[0]
    r = await world.request("teacher", "GET", f"/api/lessons/{lesson}/evaluation-report")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["lesson"]["id"] == lesson and rep["lesson"]["teacher_name"] == "其其格老师"
    assert rep["lesson"]["course"] == "三年级数学"
    means = {c["key"]: (c["mean"], c["n"], c["max"]) for c in rep["criteria"]}
    assert means == {
        "goals": (17.0, 2, 20),
        "interaction": (26.5, 2, 30),
        "media": (17.5, 2, 20),
        "outcome": (25.5, 2, 30),
    }
    assert [c["key"] for c in rep["criteria"]] == ["goals", "interaction", "media", "outcome"]
    assert sorted(e["total"] for e in rep["evaluations"]) == [85, 88]
    assert rep["evaluation_count"] == 2 and rep["mean_total"] == 86.5 and rep["max_total"] == 100
    assert [(c["offset_ms"], c["text"]) for c in rep["comments"]] == [
        (30_000, "接收课堂回答积极"), (60_000, "板书清楚"), (120_000, "导入自然")]
    assert rep["comments"][0]["classroom_name"] == "接收教室"
    assert rep["comments"][1]["evaluator_name"] == "乌云 (评课专家)"
    # The county admin sees the same numbers.
    r2 = await world.request("county_admin", "GET", f"/api/lessons/{lesson}/evaluation-report")
    assert r2.json()["mean_total"] == 86.5


async def test_teacher_report_pools_every_evaluation_in_the_range(scored: World) -> None:
    world = scored
    teacher = world.seed.accounts["teacher"].user_id
    now = datetime.now(UTC)
    params = {"from": (now - timedelta(days=1)).isoformat(),
              "to": (now + timedelta(days=2)).isoformat()}
    r = await world.request("county_admin", "GET", f"/api/users/{teacher}/evaluation-report",
                            params=params)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["lesson_count"] == 3 and rep["evaluation_count"] == 3
    assert rep["mean_total"] == round((85 + 88 + 60) / 3, 2) == 77.67
    means = {c["key"]: c["mean"] for c in rep["criteria"]}
    assert means == {"goals": round(44 / 3, 2), "interaction": round(73 / 3, 2),
                     "media": 15.0, "outcome": 23.67}
    rows = {x["lesson_id"]: (x["evaluation_count"], x["mean_total"]) for x in rep["lessons"]}
    l1, l2, l3 = world.seed.lesson_ids
    assert rows == {l1: (2, 86.5), l2: (1, 60.0), l3: (0, None)}
    # A range that holds none of the lessons.
    empty = await world.request("teacher", "GET", f"/api/users/{teacher}/evaluation-report",
                                params={"from": (now + timedelta(days=5)).isoformat()})
    assert empty.json()["lesson_count"] == 0 and empty.json()["mean_total"] is None


async def test_report_scope_and_bad_input(scored: World) -> None:
    world = scored
    seed = world.seed
    lesson = seed.lesson_ids[0]
    url = f"/api/lessons/{lesson}/evaluation-report"
    for who in ("other_county_admin", "other_teacher"):
        err(await world.request(who, "GET", url), 403, "permission_denied")
    err(await world.request("evaluator", "GET", url), 403, "permission_denied")
    err(await world.request(f"device:{seed.receiving_classroom_ids[0]}", "GET", url),
        403, "permission_denied")
    err(await world.request("teacher", "GET", "/api/lessons/99999/evaluation-report"),
        404, "not_found")
    teacher = seed.accounts["teacher"].user_id
    turl = f"/api/users/{teacher}/evaluation-report"
    err(await world.request("other_teacher", "GET", turl), 403, "permission_denied")
    err(await world.request("other_county_admin", "GET", turl), 403, "permission_denied")
    err(await world.request("admin", "GET", "/api/users/99999/evaluation-report"),
        404, "not_found")
    err(await world.request("admin", "GET", turl, params={"from": "2026-01-01T00:00:00"}),
        422, "validation_failed")
    err(await world.request("admin", "GET", turl, params={
        "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), 422, "validation_failed")
    err(await world.request("admin", "GET", turl, params={
        "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), 422, "validation_failed")


async def test_rubrics_per_unit_nearest_wins_and_default_is_seeded(world: World) -> None:
    seed = world.seed
    r = await world.request("teacher", "GET", "/api/rubrics/effective",
                            params={"lesson_id": seed.lesson_ids[0]})
    assert r.status_code == 200 and r.json()["id"] == seed.rubric_id  # the banner's own
    r = await world.request("other_county_admin", "GET", "/api/rubrics/effective",
                            params={"org_unit_id": seed.other_school_id})
    default = r.json()
    assert default["org_unit_id"] is None and default["name"] == "课堂教学评价表（默认）"
    body = {"name": "多伦县评价表", "criteria": [{"key": "goals", "label": "目标", "max": 50},
                                                   {"key": "effect", "label": "效果", "max": 50}]}
    err(await world.request("county_admin", "POST",
                            f"/api/org-units/{seed.other_county_id}/rubrics", json=body),
        403, "permission_denied")
    r = await world.request("other_county_admin", "POST",
                            f"/api/org-units/{seed.other_county_id}/rubrics", json=body)
    assert r.status_code == 201, r.text
    mine = r.json()
    r = await world.request("other_county_admin", "GET", "/api/rubrics/effective",
                            params={"org_unit_id": seed.other_school_id})
    assert r.json()["id"] == mine["id"]
    err(await world.request("other_county_admin", "POST",
                            f"/api/org-units/{seed.other_county_id}/rubrics", json=body),
        409, "conflict")
    err(await world.request("teacher", "GET", "/api/rubrics/effective"), 422, "validation_failed")
    err(await world.request("teacher", "GET", "/api/rubrics/effective",
                            params={"org_unit_id": seed.other_school_id}), 403, "permission_denied")
    err(await world.request("admin", "POST", "/api/org-units/99999/rubrics", json=body),
        404, "not_found")
