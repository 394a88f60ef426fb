"""Floor modes (主席控制 / 自由发言) and mute-all, on top of the room's floor.

The floor state machine (signaling.floor) and its media gating live in the
room; this feature only changes the rules (mode, speaker limit, free-mode time
limit) and the "everyone quiet" switch, and remembers whom mute-all muted so
releasing it unmutes exactly those (a classroom the teacher muted by hand
stays muted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import InvalidState, PermissionDenied
from signaling.features import Feature, handles
from signaling.floor import FloorMode
from signaling.messages.floor_modes import FloorModeSet, MuteAll
from signaling.protocol import Muted, ParticipantUpdated
from signaling.wire import Message

if TYPE_CHECKING:
    from signaling.rooms import Participant, Room


class FloorModes(Feature):
    name = "floor_modes"

    def __init__(self, room: Room) -> None:
        super().__init__(room)
        self.muted_by_all: set[str] = set()

    @staticmethod
    def _moderator(p: Participant, what: str) -> None:
        if not p.moderator:
            raise PermissionDenied(f"{what} needs the moderate grant")

    @handles(FloorModeSet)
    async def set_mode(self, p: Participant, message: FloorModeSet) -> Message | None:
        self._moderator(p, "changing the floor mode")
        room = self.room
        if room.policy.open_media:
            raise InvalidState(f"a {room.policy.kind} room has no floor to control")
        limits = room.hub.settings.interaction
        mode = FloorMode(message.mode)
        if message.max_speakers is None:
            max_speakers: int | None = (
                limits.free_max_speakers if mode is FloorMode.FREE else limits.chair_max_speakers
            )
        else:
            max_speakers = message.max_speakers or None
        room.floor.free_time_limit = float(message.time_limit) if message.time_limit else None
        change = room.floor.set_mode(mode, max_speakers)
        await room._floor_changed(change, "mode")
        return None

    @handles(MuteAll)
    async def mute_all(self, p: Participant, message: MuteAll) -> Message | None:
        self._moderator(p, "muting everyone")
        room = self.room
        change = room.floor.set_mute_all(message.muted)
        if not change.changed:
            return None
        if message.muted:
            for member in list(room.participants.values()):
                self._mute(member, p.id)
        else:
            for pid in list(self.muted_by_all):
                muted = room.participants.get(pid)
                if muted is not None and "audio" in muted.muted:
                    muted.muted.discard("audio")
                    self._announce(muted, False, p.id)
            self.muted_by_all.clear()
        await room._floor_changed(change, "mute_all")
        return None

    def _mute(self, member: Participant, by: str) -> None:
        if member.moderator or member.hidden or "audio" in member.muted:
            return
        member.muted.add("audio")
        self.muted_by_all.add(member.id)
        self._announce(member, True, by)

    def _announce(self, member: Participant, muted: bool, by: str) -> None:
        room = self.room
        room._apply_gate(member)
        room.broadcast(Muted(participant_id=member.id, kind="audio", muted=muted, by=by))
        room.broadcast(ParticipantUpdated(participant=room.info(member)))

    async def on_join(self, p: Participant) -> None:
        """A classroom joining while mute-all holds starts muted too."""
        if self.room.floor.mute_all:
            self._mute(p, "server")

    async def on_leave(self, p: Participant) -> None:
        self.muted_by_all.discard(p.id)
