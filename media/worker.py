"""The SFU of one process: its rooms. No global registries; the app owns a Worker.

A room lives in one process (DESIGN.md "Scale"); several workers per machine
and routing rooms across nodes are the job of a routing layer above this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType

from media.events import EventEmitter
from media.room import Room
from media.stats import WorkerStats, collect_worker_stats
from server.errors import InvalidState
from server.settings import MediaSettings

logger = logging.getLogger("tongbu.media.worker")


class Worker(EventEmitter):
    """Events on ``observer``: ``newroom``(room), ``close``."""

    def __init__(self, settings: MediaSettings) -> None:
        super().__init__()
        self.settings = settings
        self.closed = False
        self.observer = EventEmitter()
        self._rooms: dict[str, Room] = {}

    @property
    def rooms(self) -> Mapping[str, Room]:
        return MappingProxyType(self._rooms)

    def get_room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def create_room(self, room_id: str) -> Room:
        if self.closed:
            raise InvalidState("worker is closed")
        if room_id in self._rooms:
            raise InvalidState(f"room {room_id} exists")
        room = Room(room_id, self.settings)
        self._rooms[room_id] = room
        room.on("@close", lambda _r, r=room: self._drop_room(r))
        self.observer.emit("newroom", room)
        return room

    def _drop_room(self, room: Room) -> None:
        if self._rooms.get(room.id) is room:
            del self._rooms[room.id]

    def get_or_create_room(self, room_id: str) -> Room:
        return self._rooms.get(room_id) or self.create_room(room_id)

    def stats(self) -> WorkerStats:
        return collect_worker_stats(self._rooms.values())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await asyncio.gather(
            *(room.close("worker_closed") for room in list(self._rooms.values())),
            return_exceptions=True,
        )
        self.observer.emit("close")
