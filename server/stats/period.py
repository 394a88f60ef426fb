"""A statistics period: local calendar days mapped to a UTC range, plus its buckets.

Why local days: a school day in Inner Mongolia runs on Beijing time; "Monday"
must mean the school's Monday, not UTC's. Buckets are fixed-width (1 or 7 days)
from the first bucket's local midnight, which is exact in zones without daylight
saving time (all of China); in other zones a bucket edge may be off by an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.errors import ValidationFailed


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    TERM = "term"  # the whole range is one bucket (a term is a date range)


@dataclass(frozen=True)
class Period:
    first: date  # inclusive local day
    last: date  # inclusive local day
    zone: ZoneInfo
    granularity: Granularity = Granularity.TERM

    @property
    def lo(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.zone).astimezone(UTC)

    @property
    def hi(self) -> datetime:
        end = self.last + timedelta(days=1)
        return datetime.combine(end, time.min, tzinfo=self.zone).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def bucket_days(self) -> int:
        return {Granularity.DAY: 1, Granularity.WEEK: 7}.get(self.granularity, self.days)

    @property
    def bucket_origin(self) -> date:
        """Local day the first bucket starts on (weeks start on Monday)."""
        if self.granularity is Granularity.WEEK:
            return self.first - timedelta(days=self.first.weekday())
        return self.first

    @property
    def origin_utc(self) -> datetime:
        return datetime.combine(self.bucket_origin, time.min, tzinfo=self.zone).astimezone(UTC)

    def bucket_bounds(self, index: int) -> tuple[date, date]:
        """First and last local day of bucket `index`, clipped to the period."""
        start = self.bucket_origin + timedelta(days=index * self.bucket_days)
        end = start + timedelta(days=self.bucket_days - 1)
        return max(start, self.first), min(end, self.last)

    def bucket_count(self) -> int:
        span = (self.last - self.bucket_origin).days + 1
        return -(-span // self.bucket_days)


def make_period(
    first: date,
    last: date,
    tz: str,
    max_days: int,
    granularity: Granularity = Granularity.TERM,
) -> Period:
    """Validate a requested range: ordered, not longer than `max_days`, known zone."""
    if last < first:
        raise ValidationFailed(
            "the period ends before it starts",
            {"from": first.isoformat(), "to": last.isoformat()},
        )
    days = (last - first).days + 1
    if days > max_days:
        raise ValidationFailed(
            f"the period is {days} days long; statistics cover at most {max_days} days "
            "per request (ask for several shorter periods)",
            {"days": days, "max_days": max_days},
        )
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("unknown time zone", {"tz": tz}) from exc
    return Period(first, last, zone, granularity)
