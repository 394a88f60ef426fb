"""Floor modes (发言模式) and mute-all: moderator switches; the state travels in `floor_changed`.

The floor itself (`floor_request`, `floor_grant` with its time limit, `floor_revoke`,
`floor_changed` with `FloorState`) is core protocol (signaling.protocol); these
two messages only change the room's rules, so they have no reply but `ok`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from signaling.wire import Message


class FloorModeSet(Message):
    """Moderator: `chair` (主席控制) or `free` (自由发言) and how many may speak at once.

    `max_speakers`: null = the server's default for that mode, 0 = no limit.
    `time_limit`: seconds a floor taken in free mode lasts (null = no limit).
    Speakers beyond a lowered limit lose the floor (newest first).
    """

    type: Literal["floor_mode"] = "floor_mode"
    mode: Literal["chair", "free"]
    max_speakers: Annotated[int, Field(ge=0, le=64)] | None = None
    time_limit: Annotated[int, Field(ge=5, le=3600)] | None = None


class MuteAll(Message):
    """Moderator mutes (or releases) every participant's audio but the moderators'.

    While it holds, a participant may unmute itself only while it has the floor.
    """

    type: Literal["mute_all"] = "mute_all"
    muted: bool = True


Client = FloorModeSet | MuteAll
