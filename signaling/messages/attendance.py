"""Attendance (签到): a classroom reports how many pupils are present.

Joins and leaves are recorded by the lesson log; this message adds the head
count (stored on the classroom's `participation` row, last report wins) and
tells the moderators.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from signaling.wire import Message


class PupilsReport(Message):
    """A classroom of the lesson reports its pupils present."""

    type: Literal["pupils_report"] = "pupils_report"
    pupils_present: Annotated[int, Field(ge=0, le=10_000)]


class PupilsReported(Message):
    """To the moderators: a classroom's head count."""

    type: Literal["pupils_reported"] = "pupils_reported"
    participant_id: str
    identity: str
    name: str = ""
    classroom_id: int | None = None
    pupils_present: int


Client = PupilsReport
Server = PupilsReported
