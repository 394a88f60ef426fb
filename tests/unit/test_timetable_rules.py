"""Pure timetable rules: slot validation and weekly expansion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.errors import ValidationFailed
from server.timetable import MAX_OCCURRENCES, Slot, validate_slot, weekly_slots

NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def _slot(start_h: float, minutes: int = 40) -> Slot:
    start = NOW + timedelta(hours=start_h)
    return Slot(start, start + timedelta(minutes=minutes))


def test_overlap_is_half_open() -> None:
    assert _slot(1).overlaps(_slot(1.5))
    assert not _slot(1, 60).overlaps(_slot(2))
    assert _slot(1, 120).overlaps(_slot(1.5, 10))


def test_slot_in_the_future_is_valid() -> None:
    validate_slot(_slot(1), NOW)


def test_a_few_seconds_late_is_still_accepted() -> None:
    validate_slot(_slot(-10 / 3600), NOW)


@pytest.mark.parametrize(
    ("slot", "fragment"),
    [
        (_slot(-1), "past"),
        (Slot(NOW + timedelta(hours=1), NOW + timedelta(hours=1)), "end after"),
        (Slot(NOW + timedelta(hours=2), NOW + timedelta(hours=1)), "end after"),
        (_slot(1, 13 * 60), "12 hours"),
        (Slot(datetime(2030, 1, 1, 8), datetime(2030, 1, 1, 9)), "timezone"),
    ],
)
def test_invalid_slots_are_refused(slot: Slot, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_slot(slot, NOW)
    assert fragment in err.value.message


def test_weekly_slots_include_the_until_day() -> None:
    first = _slot(8)
    slots = weekly_slots(first, first.starts_at + timedelta(weeks=2))
    assert [s.starts_at for s in slots] == [first.starts_at + timedelta(weeks=i) for i in range(3)]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=40) for s in slots)


def test_weekly_until_before_first_is_refused() -> None:
    first = _slot(8)
    with pytest.raises(ValidationFailed):
        weekly_slots(first, first.starts_at - timedelta(days=1))


def test_weekly_series_is_bounded() -> None:
    first = _slot(8)
    with pytest.raises(ValidationFailed):
        weekly_slots(first, first.starts_at + timedelta(weeks=MAX_OCCURRENCES + 5))
