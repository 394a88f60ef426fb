"""Floor control (连麦): who may be heard besides the teacher, and the hand-raise queue.

A pure state machine with no I/O, so it is unit-tested on its own and the room
decides what to pause/resume from the returned change (LiveKit's forwarder
style: decide here, act elsewhere). One holder at a time: in a three-classrooms
lesson the teacher talks with one receiving classroom while the others listen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.errors import InvalidState, NotFound


@dataclass(frozen=True)
class FloorChange:
    """What a floor operation changed; `changed` is False for a no-op."""

    previous: str | None
    holder: str | None
    queue: tuple[str, ...]
    changed: bool


@dataclass
class Floor:
    holder: str | None = None
    queue: list[str] = field(default_factory=list)

    def _change(self, previous: str | None, before: tuple[str, ...]) -> FloorChange:
        queue = tuple(self.queue)
        return FloorChange(previous, self.holder, queue, previous != self.holder or before != queue)

    def request(self, participant_id: str) -> FloorChange:
        """Raise a hand. Idempotent; the holder cannot queue for what it has."""
        previous, before = self.holder, tuple(self.queue)
        if participant_id == self.holder:
            raise InvalidState("already holds the floor")
        if participant_id not in self.queue:
            self.queue.append(participant_id)
        return self._change(previous, before)

    def cancel(self, participant_id: str) -> FloorChange:
        previous, before = self.holder, tuple(self.queue)
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        return self._change(previous, before)

    def grant(self, participant_id: str) -> FloorChange:
        """Give the floor; the previous holder loses it, the grantee leaves the queue."""
        previous, before = self.holder, tuple(self.queue)
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        self.holder = participant_id
        return self._change(previous, before)

    def revoke(self, participant_id: str | None = None) -> FloorChange:
        previous, before = self.holder, tuple(self.queue)
        if self.holder is None:
            raise InvalidState("nobody holds the floor")
        if participant_id is not None and participant_id != self.holder:
            raise NotFound(f"{participant_id} does not hold the floor")
        self.holder = None
        return self._change(previous, before)

    def remove(self, participant_id: str) -> FloorChange:
        """The participant left: drop it from the queue and from the floor."""
        previous, before = self.holder, tuple(self.queue)
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        if self.holder == participant_id:
            self.holder = None
        return self._change(previous, before)
