"""Timetable notices: publishing a week, the two-day rule, changes, cancellations, e-mail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from server.auth import Passwords
from server.db.models import OrgUnit, Role, User
from server.db.models_reach import MailOutbox, MailState
from server.notices.mailer import MailMetrics, deliver_due
from server.seed import add_user
from tests.integration.api.conftest import World

from .conftest import SmtpSink


@pytest.fixture
def smtp_settings(world: World, smtp_port: int) -> Iterator[World]:
    """Point the (session-shared) settings at the test's SMTP port; restore afterwards."""
    cfg = world.settings.notices
    saved = cfg.model_copy()
    cfg.smtp_host, cfg.smtp_port, cfg.retry_base, cfg.smtp_timeout = (
        "127.0.0.1", smtp_port, 0.05, 3.0)
    try:
        yield world
    finally:
        for key, value in saved.model_dump().items():
            setattr(cfg, key, value)


def _next_monday(days_ahead: int = 7) -> date:
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    return d - timedelta(days=d.weekday())


async def _lesson(world: World, starts_at: datetime, *, who: str = "county_admin",
                  receivers: list[int] | None = None, minutes: int = 40) -> dict:
    seed = world.seed
    r = await world.request(who, "POST", "/api/lessons", json={
        "title": "三年级数学 · 分数", "teacher_id": seed.accounts["teacher"].user_id,
        "main_classroom_id": seed.main_classroom_id,
        "receiving_classroom_ids": seed.receiving_classroom_ids[:2] if receivers is None
        else receivers,
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(),
    })
    assert r.status_code == 201, r.text
    return r.json()["items"][0]


async def _notices(world: World, who: str, **params: object) -> list[dict]:
    r = await world.request(who, "GET", "/api/notifications", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _village_teacher(world: World) -> int:
    """A teacher at the first village school (the demo has nobody there)."""
    async with world.db.session() as session:
        unit = await session.get(OrgUnit, world.seed.village_school_ids[0])
        acc = await add_user(session, Passwords(world.settings), login="village_teacher",
                             name="乌兰老师", role=Role.TEACHER, unit=unit, password="x" * 12)
        return acc.user_id


async def test_publishing_a_week_notifies_schools_and_teachers_and_mails_them(
    smtp_settings: World, smtp_sink: SmtpSink
) -> None:
    world = smtp_settings
    seed = world.seed
    village_user = await _village_teacher(world)
    monday = _next_monday(7)
    starts = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    a = await _lesson(world, starts)
    b = await _lesson(world, starts + timedelta(days=2), receivers=seed.receiving_classroom_ids[2:])
    assert a["short_notice"] is False and b["short_notice"] is False
    assert (await world.request("teacher", "PUT", "/api/notifications/contacts/me",
                                json={"email": "qiqige@school.test"})).status_code == 200
    r = await world.request("county_admin", "PUT",
                            f"/api/notifications/contacts/units/{seed.village_school_ids[0]}",
                            json={"email": "office@village.test"})
    assert r.status_code == 200
    # Bad address and out of scope are refused.
    r = await world.request("teacher", "PUT", "/api/notifications/contacts/me",
                            json={"email": "not an address"})
    assert r.status_code == 422
    r = await world.request("other_county_admin", "PUT",
                            f"/api/notifications/contacts/units/{seed.village_school_ids[0]}",
                            json={"email": "x@y.test"})
    assert r.status_code == 403
    # Publishing out of scope is a 403 and notifies nobody.
    r = await world.request("other_county_admin", "POST", "/api/timetable/publish",
                            json={"org_unit_id": seed.county_id, "week": monday.isoformat()})
    assert r.status_code == 403
    r = await world.request("teacher", "POST", "/api/timetable/publish",
                            json={"org_unit_id": seed.main_school_id, "week": monday.isoformat()})
    assert r.status_code == 403
    r = await world.request("county_admin", "POST", "/api/timetable/publish",
                            json={"org_unit_id": seed.county_id, "week": monday.isoformat()})
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["lessons"] == 2 and result["short_notice"] == 0
    assert set(result["schools"]) == {seed.main_school_id, *seed.village_school_ids}
    assert result["emails_queued"] == 2
    teacher_notes = await _notices(world, "teacher", kind="timetable_published")
    assert len(teacher_notes) == 1 and teacher_notes[0]["payload"]["lessons"] == 2
    # The village teacher hears only of the lesson that reaches their school.
    village_notes = await _notices(world, f"user:{village_user}", kind="timetable_published")
    assert [i["lesson_id"] for i in village_notes[0]["payload"]["items"]] == [a["id"]]
    assert village_notes[0]["school_id"] == seed.village_school_ids[0]
    # The other county's teacher hears nothing.
    assert await _notices(world, "other_teacher") == []
    metrics = MailMetrics(None)
    report = await deliver_due(world.db, world.settings, metrics)
    assert (report.sent, report.failed, report.pending) == (2, 0, 0)
    office = smtp_sink.to("office@village.test")
    assert len(office) == 1 and "课表已发布" in str(office[0]["Subject"])
    body = office[0].get_content()
    assert "1 节课" in body  # only the lesson that reaches the village school
    assert len(smtp_sink.to("qiqige@school.test")) == 1
    # Delivered mail is not sent again.
    assert (await deliver_due(world.db, world.settings)).sent == 0
    assert len(smtp_sink.messages) == 2


async def test_mail_is_kept_and_retried_while_smtp_is_down(
    smtp_settings: World, smtp_port: int
) -> None:
    world = smtp_settings
    await world.request("teacher", "PUT", "/api/notifications/contacts/me",
                        json={"email": "qiqige@school.test"})
    lesson = await _lesson(world, datetime.now(UTC) + timedelta(days=5))
    r = await world.request("teacher", "POST", f"/api/lessons/{lesson['id']}/cancel")
    assert r.status_code == 200
    # Nobody listens on the port: the mail stays pending with the error and a retry time.
    report = await deliver_due(world.db, world.settings)
    assert (report.sent, report.failed, report.pending) == (0, 1, 1)
    report = await deliver_due(world.db, world.settings)  # not due yet: untouched
    assert report.failed == 0 and report.pending == 1
    async with world.db.session() as session:
        row = await session.scalar(sa.select(MailOutbox))
        assert row is not None and row.state is MailState.PENDING and row.attempts == 1
        assert "Connect" in row.last_error or "refused" in row.last_error.lower(), row.last_error
    state = (await world.request("county_admin", "GET", "/api/notifications/outbox")).json()
    assert state["pending"] == 1 and state["last_error"]
    assert (await world.request("teacher", "GET",
                                "/api/notifications/outbox")).status_code == 403
    # The SMTP server comes back: the same mail goes out once.
    sink = SmtpSink(smtp_port)
    sink.start()
    try:
        import asyncio

        await asyncio.sleep(0.1)  # past the 0.05 s backoff
        report = await deliver_due(world.db, world.settings)
        assert (report.sent, report.pending) == (1, 0)
        assert len(sink.messages) == 1 and "课程取消" in str(sink.messages[0]["Subject"])
    finally:
        sink.stop()


async def test_short_notice_lessons_are_accepted_flagged_and_shown_to_admins(
    world: World
) -> None:
    soon = await _lesson(world, datetime.now(UTC) + timedelta(hours=20))
    assert soon["short_notice"] is True
    later = await _lesson(world, datetime.now(UTC) + timedelta(days=4, hours=3))
    assert later["short_notice"] is False
    flagged = (await world.request("county_admin", "GET",
                                   "/api/notifications/short-notice")).json()
    assert [x["id"] for x in flagged["items"]] == [soon["id"]]
    assert (await world.request("other_county_admin", "GET",
                                "/api/notifications/short-notice")).json()["total"] == 0
    r = await world.request("teacher", "GET", "/api/notifications/short-notice")
    assert r.status_code == 403
    admin_notes = await _notices(world, "county_admin", kind="short_notice")
    assert [n["lesson_id"] for n in admin_notes] == [soon["id"]]
    assert [n["lesson_id"] for n in await _notices(world, "teacher", kind="lesson_created")] == [
        soon["id"]]
    # Moving the later lesson to tomorrow flags it and tells the teacher what changed.
    new_start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, hours=2)
    r = await world.request("county_admin", "PATCH", f"/api/lessons/{later['id']}", json={
        "starts_at": new_start.isoformat(),
        "ends_at": (new_start + timedelta(minutes=40)).isoformat(),
        "receiving_classroom_ids": world.seed.receiving_classroom_ids[:1],
    })
    assert r.status_code == 200 and r.json()["short_notice"] is True
    changed = await _notices(world, "teacher", kind="lesson_changed")
    assert changed[0]["lesson_id"] == later["id"]
    assert changed[0]["payload"]["old_starts_at"] == later["starts_at"].replace("Z", "+00:00")
    assert changed[0]["payload"]["removed_classrooms"] == world.seed.receiving_classroom_ids[1:2]
    # A title fix is no change of time or place: no new notice.
    await world.request("county_admin", "PATCH", f"/api/lessons/{later['id']}",
                        json={"title": "三年级数学 · 分数（二）"})
    assert len(await _notices(world, "teacher", kind="lesson_changed")) == 1


async def test_notifications_are_listed_and_marked_read_per_user(world: World) -> None:
    lesson = await _lesson(world, datetime.now(UTC) + timedelta(hours=30))
    await world.request("county_admin", "POST", f"/api/lessons/{lesson['id']}/cancel")
    unread = (await world.request("teacher", "GET", "/api/notifications/unread-count")).json()
    assert unread["unread"] == 2  # created at short notice, then cancelled
    notes = await _notices(world, "teacher")
    assert [n["kind"] for n in notes] == ["lesson_cancelled", "lesson_created"]
    first = notes[0]["id"]
    r = await world.request("teacher", "POST", f"/api/notifications/{first}/read")
    assert r.status_code == 200 and r.json()["read_at"]
    assert len(await _notices(world, "teacher", unread=True)) == 1
    # Someone else's notification does not exist for you.
    r = await world.request("researcher", "POST", f"/api/notifications/{notes[1]['id']}/read")
    assert r.status_code == 404
    r = await world.request("teacher", "POST", "/api/notifications/read-all")
    assert r.json() == {"unread": 0}
    assert await _notices(world, "teacher", unread=True) == []
    r = await world.request(f"device:{world.seed.main_classroom_id}", "GET", "/api/notifications")
    assert r.status_code == 403
    assert (await world.request("anonymous", "GET", "/api/notifications")).status_code == 401
    async with world.db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(User)) > 0
