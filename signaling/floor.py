"""Floor control (发言/连麦): who may be heard besides the moderator, and the hand-raise queue.

A pure state machine with no I/O and no clock of its own (callers pass `now`),
so it is unit-tested on its own and the room decides what to pause/resume from
the returned change (LiveKit's forwarder style: decide here, act elsewhere).

The floor is an ordered set of speakers (oldest grant first; `holder` is the
first, which keeps the one-speaker API of a three-classrooms lesson working).
Two modes:
- `chair` (主席控制): only a moderator grants; requests join a visible, ordered
  queue; a grant beyond `max_speakers` takes the floor from the oldest speaker;
- `free` (自由发言): a participant takes the floor itself while fewer than
  `max_speakers` talk (`None` = no limit); a full floor refuses (`FloorFull`).
A grant may carry a time limit: `expire(now)` drops the speakers whose time is up.
`mute_all` is the moderator's "everyone quiet" switch; the room applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from server.errors import InvalidState, NotFound


class FloorMode(StrEnum):
    CHAIR = "chair"  # 主席控制
    FREE = "free"  # 自由发言


class FloorFull(InvalidState):
    """Free mode: `max_speakers` already talk; wait until one stops."""

    code = "limit_reached"


@dataclass(frozen=True)
class FloorChange:
    """What a floor operation changed; `changed` is False for a no-op.

    `previous`/`holder` are the first speaker before/after (the one-speaker view);
    `added`/`removed` are every speaker who gained/lost the floor.
    """

    previous: str | None
    holder: str | None
    queue: tuple[str, ...]
    changed: bool
    speakers: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass
class Floor:
    mode: FloorMode = FloorMode.CHAIR
    max_speakers: int | None = 1
    speakers: list[str] = field(default_factory=list)
    queue: list[str] = field(default_factory=list)
    # Speaker -> wall-clock second (epoch) when its grant ends; absent = no limit.
    expires_at: dict[str, float] = field(default_factory=dict)
    mute_all: bool = False
    # Free mode: the time limit of a floor taken without a grant (None = none).
    free_time_limit: float | None = None

    @property
    def holder(self) -> str | None:
        return self.speakers[0] if self.speakers else None

    def is_speaker(self, participant_id: str) -> bool:
        return participant_id in self.speakers

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            tuple(self.speakers),
            tuple(self.queue),
            self.mute_all,
            self.mode,
            self.max_speakers,
            tuple(sorted(self.expires_at.items())),
        )

    def _change(self, before: tuple[Any, ...]) -> FloorChange:
        old_speakers = before[0]
        now_speakers = tuple(self.speakers)
        return FloorChange(
            previous=old_speakers[0] if old_speakers else None,
            holder=self.holder,
            queue=tuple(self.queue),
            changed=before != self._snapshot(),
            speakers=now_speakers,
            added=tuple(s for s in now_speakers if s not in old_speakers),
            removed=tuple(s for s in old_speakers if s not in now_speakers),
        )

    def _drop(self, participant_id: str) -> None:
        if participant_id in self.speakers:
            self.speakers.remove(participant_id)
        self.expires_at.pop(participant_id, None)

    def _full(self) -> bool:
        return self.max_speakers is not None and len(self.speakers) >= self.max_speakers

    def request(self, participant_id: str, now: float = 0.0) -> FloorChange:
        """Raise a hand (chair) or take the floor (free). Idempotent in chair mode."""
        before = self._snapshot()
        if participant_id in self.speakers:
            raise InvalidState("already holds the floor")
        if self.mode is FloorMode.FREE:
            if self._full():
                raise FloorFull(f"at most {self.max_speakers} may speak at once")
            self.speakers.append(participant_id)
            if self.free_time_limit:
                self.expires_at[participant_id] = now + self.free_time_limit
        elif participant_id not in self.queue:
            self.queue.append(participant_id)
        return self._change(before)

    def cancel(self, participant_id: str) -> FloorChange:
        before = self._snapshot()
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        return self._change(before)

    def grant(
        self, participant_id: str, *, seconds: float | None = None, now: float = 0.0
    ) -> FloorChange:
        """Give the floor; beyond `max_speakers` the oldest speaker loses it.

        Granting a speaker again only renews (or clears) its time limit.
        """
        before = self._snapshot()
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        if participant_id not in self.speakers:
            while self._full() and self.speakers:
                self._drop(self.speakers[0])
            self.speakers.append(participant_id)
        if seconds:
            self.expires_at[participant_id] = now + seconds
        else:
            self.expires_at.pop(participant_id, None)
        return self._change(before)

    def revoke(self, participant_id: str | None = None) -> FloorChange:
        """Take the floor from one speaker, or from all of them (`None`)."""
        before = self._snapshot()
        if not self.speakers:
            raise InvalidState("nobody holds the floor")
        if participant_id is None:
            for speaker in list(self.speakers):
                self._drop(speaker)
        elif participant_id not in self.speakers:
            raise NotFound(f"{participant_id} does not hold the floor")
        else:
            self._drop(participant_id)
        return self._change(before)

    def expire(self, now: float) -> FloorChange:
        """Drop every speaker whose time limit has passed."""
        before = self._snapshot()
        for speaker, ends in list(self.expires_at.items()):
            if ends <= now:
                self._drop(speaker)
        return self._change(before)

    def next_expiry(self) -> float | None:
        return min(self.expires_at.values()) if self.expires_at else None

    def set_mode(self, mode: FloorMode, max_speakers: int | None) -> FloorChange:
        """Switch mode / limit; the newest speakers beyond the new limit lose the floor.

        Going free clears the queue: those hands may now simply take the floor.
        """
        if max_speakers is not None and max_speakers < 1:
            raise InvalidState("max_speakers must be at least 1")
        before = self._snapshot()
        self.mode = mode
        self.max_speakers = max_speakers
        if max_speakers is not None:
            for speaker in self.speakers[max_speakers:]:
                self._drop(speaker)
        if mode is FloorMode.FREE:
            self.queue.clear()
        return self._change(before)

    def set_mute_all(self, muted: bool) -> FloorChange:
        before = self._snapshot()
        self.mute_all = muted
        return self._change(before)

    def remove(self, participant_id: str) -> FloorChange:
        """The participant left: drop it from the queue and from the floor."""
        before = self._snapshot()
        if participant_id in self.queue:
            self.queue.remove(participant_id)
        self._drop(participant_id)
        return self._change(before)
