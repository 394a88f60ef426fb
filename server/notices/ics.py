"""iCalendar (RFC 5545) feeds of lessons, built with the `icalendar` library.

One VEVENT per lesson: UID `lesson-<id>@tongbu` is stable, so a subscribed
calendar app that re-reads the feed (X-PUBLISHED-TTL: 1 hour) moves the event
when the lesson moves; cancelled lessons stay in the feed with
STATUS:CANCELLED so apps strike them out instead of silently keeping them.
"""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

from server.db.models import Lesson, LessonState, utcnow


def lesson_calendar(name: str, lessons: list[Lesson], *, base_url: str,
                    places: dict[int, str]) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Tongbu//三个课堂//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-published-ttl", "PT1H")
    stamp: datetime = utcnow()
    for lesson in lessons:
        ev = Event()
        ev.add("uid", f"lesson-{lesson.id}@tongbu")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", lesson.starts_at)
        ev.add("dtend", lesson.ends_at)
        ev.add("summary", lesson.title)
        ev.add("location", places.get(lesson.main_classroom_id, ""))
        ev.add("url", f"{base_url.rstrip('/')}/web/teacher.html?lesson={lesson.id}")
        ev.add("created", lesson.created_at)
        ev.add("status", "CANCELLED" if lesson.state is LessonState.CANCELLED else "CONFIRMED")
        receivers = ", ".join(places.get(c, str(c)) for c in lesson.receiving_classroom_ids)
        ev.add("description", f"主讲: {places.get(lesson.main_classroom_id, '')}\n"
                              f"接收: {receivers}")
        cal.add_component(ev)
    return cal.to_ical()
