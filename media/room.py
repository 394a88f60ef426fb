"""A room (mediasoup's router): the transports of one lesson and the producers in it.

Owns its transports in a private dict and drops each on its ``@close``; closing
the room closes every transport (which closes its producers and consumers and
its peer connection) and cancels the room's own tasks, so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from types import MappingProxyType
from typing import Any, Literal

from media.events import EventEmitter
from media.producer import Producer
from media.transport import Transport
from server.errors import InvalidState
from server.settings import MediaSettings

logger = logging.getLogger("tongbu.media.room")


class Room(EventEmitter):
    """Events: ``newproducer``(p), ``producerclose``(p), ``close``(reason); same on ``observer``
    plus ``newtransport``(t)."""

    def __init__(self, room_id: str, settings: MediaSettings) -> None:
        super().__init__()
        self.id = room_id
        self.closed = False
        self.observer = EventEmitter()
        self._settings = settings
        self._transports: dict[str, Transport] = {}
        self._producers: dict[str, Producer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def transports(self) -> Mapping[str, Transport]:
        return MappingProxyType(self._transports)

    @property
    def producers(self) -> Mapping[str, Producer]:
        return MappingProxyType(self._producers)

    def create_transport(self, peer_id: str, direction: Literal["send", "recv"]) -> Transport:
        if self.closed:
            raise InvalidState(f"room {self.id} is closed")
        transport = Transport(
            room=self,
            peer_id=peer_id,
            direction=direction,
            settings=self._settings,
            spawn=self._spawn,
        )
        self._transports[transport.id] = transport
        transport.on("@close", lambda _r, t=transport: self._transports.pop(t.id, None))
        self.observer.emit("newtransport", transport)
        return transport

    # -- called by transports -------------------------------------------------------
    def _add_producer(self, producer: Producer) -> None:
        self._producers[producer.id] = producer
        producer.on("@close", lambda _r, p=producer: self._drop_producer(p))
        # consumers of the same group on every recv transport gain the new layer
        for transport in self._transports.values():
            for consumer in list(transport.consumers.values()):
                if consumer.group == producer.group and consumer.kind == producer.kind:
                    consumer._add_layer(producer)
        self.emit("newproducer", producer)
        self.observer.emit("newproducer", producer)

    def _drop_producer(self, producer: Producer) -> None:
        if self._producers.pop(producer.id, None) is None:
            return
        self.emit("producerclose", producer)
        self.observer.emit("producerclose", producer)

    def _group_layers(self, group: str, kind: str) -> list[Producer]:
        return [p for p in self._producers.values() if p.group == group and p.kind == kind]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background job owned by the room (cancelled by ``close``)."""
        if self.closed:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("room %s task failed", self.id, exc_info=task.exception())

    async def close(self, reason: str = "room_closed") -> None:
        """Idempotent cascade: transports → producers/consumers → peer connections."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        transports = list(self._transports.values())
        await asyncio.gather(*(t.close(reason) for t in transports), return_exceptions=True)
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._cancel_listener_tasks()
        self.emit("close", reason)
        self.observer.emit("close", reason)
        self.emit("@close", reason)
        self.remove_all_listeners()

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "transports": [t.stats() for t in self._transports.values()],
        }
