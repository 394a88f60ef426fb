"""Attendance (签到): a classroom reports its pupils present; the moderators see it.

Joins and leaves already reach `participation` through the lesson log; the
head count travels as an `attendance.pupils` event, which the interaction
store writes onto the classroom's `participation` row (last report wins), so
the room never waits on the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import PermissionDenied
from signaling.features import Feature, handles
from signaling.messages.attendance import PupilsReport, PupilsReported
from signaling.wire import Message

if TYPE_CHECKING:
    from signaling.rooms import Participant, Room


class Attendance(Feature):
    name = "attendance"

    def __init__(self, room: Room) -> None:
        super().__init__(room)
        self.reports: dict[str, PupilsReported] = {}  # by identity, for late moderators

    @handles(PupilsReport)
    async def report(self, p: Participant, message: PupilsReport) -> Message | None:
        if p.hidden or p.claims.classroom_id is None:
            raise PermissionDenied("only a classroom of the lesson reports its pupils")
        note = PupilsReported(
            participant_id=p.id,
            identity=p.claims.identity,
            name=p.claims.name,
            classroom_id=p.claims.classroom_id,
            pupils_present=message.pupils_present,
        )
        self.reports[p.claims.identity] = note
        for m in list(self.room.participants.values()):
            if m.moderator and m is not p:
                m.peer.send(note)
        self.room.emit(
            "attendance.pupils",
            p,
            {"classroom_id": p.claims.classroom_id, "pupils_present": message.pupils_present},
        )
        return None

    def snapshot(self, p: Participant) -> list[Message]:
        return list(self.reports.values()) if p.moderator else []
