"""Room policy per room kind: floor mode, speaker limit, who consumes whom, who is live.

Why one small module: a lesson (三个课堂), a teaching-research room (同步教研)
and a meeting (同步视讯) run on the same room code and differ only in these
few rules; keeping them here keeps `signaling.rooms` free of `if kind == …`
and lets the rules be unit-tested without a server.

- lesson: chair mode, one speaker by default; classrooms consume the teacher
  and the current speakers; a classroom is heard only while it has the floor.
- research: free mode with no speaker limit; everyone consumes everyone and
  everyone's media is live (teachers of several schools talk as peers).
- meeting: chair mode with the host (a moderator) granting; participants are
  heard when granted; everyone consumes the host, the speakers and every
  screen share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from signaling.floor import FloorMode

RoomKind = Literal["lesson", "research", "meeting"]
ROOM_KINDS: tuple[RoomKind, ...] = ("lesson", "research", "meeting")


@dataclass(frozen=True)
class RoomPolicy:
    kind: RoomKind
    mode: FloorMode
    # Speakers at once; None = no limit.
    max_speakers: int | None
    # Every participant consumes every other participant's producers.
    everyone_consumes_everyone: bool = False
    # Every participant's media is live whatever the floor (no gating).
    open_media: bool = False
    # Screen shares reach everyone, whoever shares.
    screens_for_everyone: bool = False

    def wants(
        self,
        *,
        subscriber_sees_all: bool,
        owner_is_moderator: bool,
        owner_speaks: bool,
        source: str | None,
    ) -> bool:
        """Does a subscriber consume a producer of this owner (basic checks done)?

        `subscriber_sees_all`: a moderator or a hidden participant (teacher,
        evaluator, recorder) consumes everything in every kind of room.
        """
        if subscriber_sees_all or self.everyone_consumes_everyone:
            return True
        if owner_is_moderator or owner_speaks:
            return True
        return self.screens_for_everyone and source == "screen"

    def live(self, *, moderator: bool, speaks: bool) -> bool:
        """Is a participant's (unmuted) media forwarded?"""
        return moderator or speaks or self.open_media


def policy_for(kind: str | None, *, chair_max_speakers: int = 1) -> RoomPolicy:
    """The policy of a room kind (unknown or missing kinds are lessons)."""
    if kind == "research":
        return RoomPolicy(
            "research", FloorMode.FREE, None, everyone_consumes_everyone=True, open_media=True
        )
    if kind == "meeting":
        return RoomPolicy(
            "meeting", FloorMode.CHAIR, chair_max_speakers, screens_for_everyone=True
        )
    return RoomPolicy("lesson", FloorMode.CHAIR, chair_max_speakers)
