"""Courseware sync in a room: the open document, the page, its strokes, the pointer.

State lives in the room (one instance per room) and dies with it: a late
joiner gets it in its `snapshot`; opening and page turns go to the lesson log
(`courseware.opened`, `courseware.page`, strokes as `courseware.stroke`) so
playback can show the slide that was on screen; pointer moves are ephemeral
(`log=False`) and throttled per participant.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from server.courseware import links
from server.courseware.access import document_for_room
from server.errors import InvalidState, PermissionDenied
from signaling.features import Feature, handles
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
    PageInfo,
    Stroke,
)
from signaling.wire import ErrorCode, Message, ProtocolError

if TYPE_CHECKING:
    from signaling.rooms import Participant


class Courseware(Feature):
    name = "courseware"

    def __init__(self, room: object) -> None:
        super().__init__(room)  # type: ignore[arg-type]
        self.document: DocumentInfo | None = None
        self.page = 1
        self.strokes: dict[int, list[Stroke]] = {}
        self._pointer_at: dict[str, float] = {}

    # ------------------------------------------------------------ rules

    def _require_driver(self, p: Participant) -> None:
        """Moderators drive; in a research room (同步教研) every visible participant does."""
        if p.hidden:
            raise PermissionDenied("hidden participants do not drive the courseware")
        if not (p.moderator or p.claims.kind == "research"):
            raise PermissionDenied("only the teacher or host drives the courseware")

    def _require_open(self) -> DocumentInfo:
        if self.document is None:
            raise InvalidState("no document is open")
        return self.document

    def state(self, by: str | None = None) -> CoursewareState:
        return CoursewareState(
            document=self.document,
            page=self.page,
            strokes=list(self.strokes.get(self.page, [])),
            by=by,
        )

    # ------------------------------------------------------------ handlers

    @handles(CoursewareOpen)
    async def open(self, p: Participant, message: CoursewareOpen) -> Message | None:
        self._require_driver(p)
        db = self.room.hub.db
        if db is None:
            raise InvalidState("courseware needs the database")
        async with db.session() as session:
            doc = await document_for_room(session, self.room.id, message.document_id)
            info = _document_info(doc, self.room.hub.settings)
        if message.page > info.page_count:
            raise InvalidState(f"the document has {info.page_count} pages")
        self.document, self.page, self.strokes = info, message.page, {}
        self.room.broadcast(self.state(by=p.id))
        self.room.emit(
            "courseware.opened",
            p,
            {"document_id": info.id, "title": info.title, "page": self.page,
             "page_count": info.page_count},
        )
        return None

    @handles(CoursewarePage)
    async def turn(self, p: Participant, message: CoursewarePage) -> Message | None:
        self._require_driver(p)
        doc = self._require_open()
        if message.page > doc.page_count:
            raise InvalidState(f"the document has {doc.page_count} pages")
        self.page = message.page
        self.room.broadcast(
            CoursewarePageChanged(
                document_id=doc.id,
                page=self.page,
                strokes=list(self.strokes.get(self.page, [])),
                by=p.id,
            )
        )
        self.room.emit("courseware.page", p, {"document_id": doc.id, "page": self.page})
        return None

    @handles(CoursewareStroke)
    async def stroke(self, p: Participant, message: CoursewareStroke) -> Message | None:
        self._require_driver(p)
        doc = self._require_open()
        limits = self.room.hub.settings.courseware
        on_page = self.strokes.setdefault(self.page, [])
        total = sum(len(s) for s in self.strokes.values())
        if len(on_page) >= limits.max_strokes_per_page or total >= limits.max_strokes:
            raise ProtocolError(
                ErrorCode.LIMIT_REACHED,
                f"at most {limits.max_strokes_per_page} strokes per page and"
                f" {limits.max_strokes} per document; clear a page first",
                message.id,
            )
        stroke = Stroke(
            id=f"ST_{uuid.uuid4().hex[:10]}",
            participant_id=p.id,
            page=self.page,
            points=message.points,
            color=message.color,
            width=message.width,
        )
        on_page.append(stroke)
        self.room.broadcast(CoursewareStrokeAdded(stroke=stroke))
        self.room.emit(
            "courseware.stroke",
            p,
            {"document_id": doc.id, "page": self.page, "stroke_id": stroke.id,
             "color": stroke.color, "width": stroke.width,
             "points": [list(pt) for pt in stroke.points]},
        )
        return None

    @handles(CoursewareClear)
    async def clear(self, p: Participant, message: CoursewareClear) -> Message | None:
        self._require_driver(p)
        doc = self._require_open()
        self.strokes.pop(self.page, None)
        self.room.broadcast(CoursewareCleared(page=self.page, by=p.id))
        self.room.emit("courseware.cleared", p, {"document_id": doc.id, "page": self.page})
        return None

    @handles(CoursewarePointer)
    async def pointer(self, p: Participant, message: CoursewarePointer) -> Message | None:
        self._require_driver(p)
        self._require_open()
        now = time.monotonic()
        interval = 1.0 / max(self.room.hub.settings.courseware.pointer_rate, 0.1)
        hide = message.x is None or message.y is None
        if not hide and now - self._pointer_at.get(p.id, 0.0) < interval:
            return None  # throttled: the next move supersedes this one anyway
        self._pointer_at[p.id] = now
        self.room.broadcast(
            CoursewarePointerMoved(
                participant_id=p.id,
                x=None if hide else message.x,
                y=None if hide else message.y,
            ),
            exclude=p,
        )
        self.room.emit("courseware.pointer", p, {"x": message.x, "y": message.y}, log=False)
        return None

    @handles(CoursewareClose)
    async def close_document(self, p: Participant, message: CoursewareClose) -> Message | None:
        self._require_driver(p)
        doc = self._require_open()
        self.document, self.page, self.strokes = None, 1, {}
        self.room.broadcast(self.state(by=p.id))
        self.room.emit("courseware.closed", p, {"document_id": doc.id})
        return None

    @handles(CoursewareSync)
    async def sync(self, p: Participant, message: CoursewareSync) -> Message | None:
        return self.state()

    # ------------------------------------------------------------ hooks

    def snapshot(self, p: Participant) -> list[Message]:
        return [self.state()] if self.document is not None else []

    async def on_leave(self, p: Participant) -> None:
        self._pointer_at.pop(p.id, None)

    async def close(self) -> None:
        self.document, self.strokes = None, {}


def _document_info(doc: object, settings: object) -> DocumentInfo:
    from server.db.models_collab import CoursewareDocument
    from server.settings import Settings

    assert isinstance(doc, CoursewareDocument) and isinstance(settings, Settings)
    urls = links.page_urls(
        settings.ensure_secret(), doc.id, doc.page_count, settings.auth.room_token_ttl
    )
    return DocumentInfo(
        id=doc.id,
        title=doc.title,
        page_count=doc.page_count,
        pages=[
            PageInfo(url=url, width=int(size["width"]), height=int(size["height"]))
            for url, size in zip(urls, doc.pages, strict=True)
        ],
    )
