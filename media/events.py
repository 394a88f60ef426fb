"""A small event emitter with a safe emit (mediasoup's ``safeEmit`` shape).

Why not pyee: listeners of a media object run on the hot path of a room; a
listener that raises must never break the object that emitted (a producer
closing must still close its consumers). ``emit`` therefore logs the error and
re-emits it as ``listenererror``. Coroutine listeners are run as tasks that
the emitter tracks, so ``close()`` of the owner can cancel them (no orphans).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("tongbu.media")

Listener = Callable[..., Any]


class EventEmitter:
    """``on``/``once``/``off``/``emit``; events are lowercase run-together names."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._listener_tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, handler: Listener) -> None:
        self._listeners.setdefault(event, []).append(handler)

    def once(self, event: str, handler: Listener) -> None:
        def wrapper(*args: Any) -> Any:
            self.off(event, wrapper)
            return handler(*args)

        self.on(event, wrapper)

    def off(self, event: str, handler: Listener) -> None:
        handlers = self._listeners.get(event)
        if handlers and handler in handlers:
            handlers.remove(handler)

    def listener_count(self, event: str) -> int:
        return len(self._listeners.get(event, ()))

    def remove_all_listeners(self) -> None:
        self._listeners.clear()

    def emit(self, event: str, *args: Any) -> bool:
        """Call every listener; a raising listener is logged, never propagated."""
        handlers = self._listeners.get(event)
        if not handlers:
            return False
        for handler in list(handlers):
            try:
                result = handler(*args)
                if asyncio.iscoroutine(result):
                    task = asyncio.get_running_loop().create_task(result)
                    self._listener_tasks.add(task)
                    task.add_done_callback(self._listener_task_done)
            except Exception as exc:
                logger.exception("listener of %r failed", event)
                if event != "listenererror":
                    self.emit("listenererror", event, exc)
        return True

    def _listener_task_done(self, task: asyncio.Task[Any]) -> None:
        self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("async listener failed", exc_info=task.exception())

    async def _cancel_listener_tasks(self) -> None:
        """Cancel coroutine listeners still running (called by the owner's close)."""
        current = asyncio.current_task()
        tasks = [t for t in self._listener_tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
