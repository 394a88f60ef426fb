"""Room events for whoever outside signaling cares: the lesson log, webhooks, statistics.

Why a queue and one dispatcher task: observers write to the database or call
out over HTTP; a lesson must never wait for them, and they must see events in
the order they happened. `emit` only enqueues; the dispatcher calls each
observer in turn with a timeout, and an observer that fails is logged, not
retried here (an observer that needs durability, e.g. webhooks, persists
first and retries on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("tongbu.signaling.events")

_LESSON_ROOM = re.compile(r"^lesson-(\d+)$")
# Observers write to the database; a busy one gets time, a hung one must not stall the log.
OBSERVER_TIMEOUT = 30.0
QUEUE_LIMIT = 10_000


def lesson_id_of(room: str) -> int | None:
    """Rooms of lessons are named `lesson-<id>`; other rooms (tests, meetings) have none."""
    match = _LESSON_ROOM.match(room)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RoomEvent:
    """Something that happened in a room, stamped with the server clock.

    `name` is dotted (`participant.joined`, `floor.changed`, `chat.message`, …);
    `log` says whether it belongs in the lesson's event log (a cursor position
    or a pointer stroke does not; a page turn does).
    """

    name: str
    room: str
    participant_id: str | None = None
    identity: str | None = None
    role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    log: bool = True
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def lesson_id(self) -> int | None:
        return lesson_id_of(self.room)


Observer = Callable[[RoomEvent], Awaitable[None]]


class EventBus:
    """Ordered, non-blocking fan-out of room events to observers."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []
        self._queue: asyncio.Queue[RoomEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Add an observer; returns a function that removes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def emit(self, event: RoomEvent) -> None:
        if not self._observers:
            return
        if self._queue is None:
            self._queue = asyncio.Queue(QUEUE_LIMIT)
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("room event queue full, dropped %s", event.name)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            for observer in list(self._observers):
                try:
                    await asyncio.wait_for(observer(event), OBSERVER_TIMEOUT)
                except Exception:
                    logger.exception("room event observer failed on %s", event.name)
            self._queue.task_done()

    async def drain(self, limit_s: float = 5.0) -> None:
        """Wait until every queued event has been handed to the observers."""
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), limit_s)

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._queue = None
