"""Courseware calls and state for `TongbuClient` (课件同步).

`CoursewareView` mirrors what a screen shows: the open document, the page, the
page's strokes and where each participant's pointer is. It is updated from the
server's messages (`apply`), including the snapshot right after `joined`.
`CoursewareCalls` are the requests; `TongbuClient` inherits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from signaling.messages.courseware import (
    CoursewareClear,
    CoursewareCleared,
    CoursewareClose,
    CoursewareOpen,
    CoursewarePage,
    CoursewarePageChanged,
    CoursewarePointer,
    CoursewarePointerMoved,
    CoursewareState,
    CoursewareStroke,
    CoursewareStrokeAdded,
    CoursewareSync,
    DocumentInfo,
    Stroke,
)
from signaling.wire import Message


@dataclass
class CoursewareView:
    document: DocumentInfo | None = None
    page: int = 1
    strokes: list[Stroke] = field(default_factory=list)
    pointers: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    # (monotonic receive time, message type) of every courseware message, for tests.
    received: list[tuple[float, str]] = field(default_factory=list)

    def apply(self, message: Message) -> bool:
        """Update from a server message; False when it is not a courseware message."""
        match message:
            case CoursewareState():
                self.document, self.page = message.document, message.page
                self.strokes = list(message.strokes)
            case CoursewarePageChanged():
                self.page, self.strokes = message.page, list(message.strokes)
            case CoursewareStrokeAdded(stroke=stroke):
                if stroke.page == self.page:
                    self.strokes.append(stroke)
            case CoursewareCleared(page=page):
                if page == self.page:
                    self.strokes = []
            case CoursewarePointerMoved(participant_id=pid, x=x, y=y):
                self.pointers[pid] = None if x is None or y is None else (x, y)
            case _:
                return False
        self.received.append((asyncio.get_running_loop().time(), str(getattr(message, "type", ""))))
        return True


class CoursewareCalls:
    """Requests of the courseware feature; each raises `SignalingError` on a typed error."""

    async def request(self, message: Any, expect: Any) -> Any:  # provided by TongbuClient
        raise NotImplementedError

    async def send(self, message: Any) -> None:  # provided by TongbuClient
        raise NotImplementedError

    async def courseware_open(self, document_id: int, page: int = 1) -> None:
        await self.request(CoursewareOpen(document_id=document_id, page=page), Message)

    async def courseware_page(self, page: int) -> None:
        await self.request(CoursewarePage(page=page), Message)

    async def courseware_stroke(
        self, points: Sequence[tuple[float, float]], *, color: str = "#e11d48", width: float = 3.0
    ) -> None:
        await self.request(
            CoursewareStroke(points=list(points), color=color, width=width), Message
        )

    async def courseware_clear(self) -> None:
        await self.request(CoursewareClear(), Message)

    async def courseware_close(self) -> None:
        await self.request(CoursewareClose(), Message)

    async def courseware_pointer(self, x: float | None, y: float | None) -> None:
        """Fire and forget (no reply): pointer moves are throttled, not acknowledged."""
        await self.send(CoursewarePointer(x=x, y=y))

    async def courseware_sync(self) -> CoursewareState:
        state: CoursewareState = await self.request(CoursewareSync(), CoursewareState)
        return state
