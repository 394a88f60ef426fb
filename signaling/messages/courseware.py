"""Courseware sync (课件同步): the open document, page turns, annotation strokes, the pointer.

Who may drive: moderators (the teacher, a meeting's host) in lessons and
meetings; everyone in a 同步教研 research room. Coordinates are fractions of
the page (0..1 from the top-left corner), so every screen size draws the same
stroke. Limits: points per stroke, strokes per page (`limit_reached`), and a
pointer rate per participant (extra moves are dropped, not answered).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from signaling.wire import Message

MAX_POINTS = 500
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
PageNumber = Annotated[int, Field(ge=1, le=10_000)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class CoursewareOpen(Message):
    """Show a document (uploaded to this lesson, its course, session or meeting) to everyone."""

    type: Literal["courseware_open"] = "courseware_open"
    document_id: Annotated[int, Field(ge=1)]
    page: PageNumber = 1


class CoursewarePage(Message):
    """Turn to a page of the open document; its strokes come along."""

    type: Literal["courseware_page"] = "courseware_page"
    page: PageNumber


class CoursewareStroke(Message):
    """Draw one annotation stroke on the current page (a polyline, at most 500 points)."""

    type: Literal["courseware_stroke"] = "courseware_stroke"
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]
    color: Color = "#e11d48"
    width: Annotated[float, Field(ge=0.5, le=40.0)] = 3.0


class CoursewareClear(Message):
    """Remove every stroke of the current page."""

    type: Literal["courseware_clear"] = "courseware_clear"


class CoursewarePointer(Message):
    """Move the laser pointer (ephemeral: never logged, throttled); null hides it."""

    type: Literal["courseware_pointer"] = "courseware_pointer"
    x: Fraction | None = None
    y: Fraction | None = None


class CoursewareClose(Message):
    """Stop showing the document."""

    type: Literal["courseware_close"] = "courseware_close"


class CoursewareSync(Message):
    """Ask for the current state (answered with `courseware_state`), e.g. after a page load."""

    type: Literal["courseware_sync"] = "courseware_sync"


class PageInfo(BaseModel):
    """One rendered page: an image URL (signed, short-lived) and its pixel size."""

    model_config = ConfigDict(extra="forbid")

    url: str
    width: int
    height: int


class DocumentInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    title: str
    page_count: int
    pages: list[PageInfo]


class Stroke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    participant_id: str
    page: int
    points: list[Point]
    color: str
    width: float


class CoursewareState(Message):
    """Everything a screen needs: the document, the page and that page's strokes.

    Sent to everyone when a document is opened or closed (`document` null), to a
    late joiner right after `joined`, and as the reply to `courseware_sync`.
    """

    type: Literal["courseware_state"] = "courseware_state"
    document: DocumentInfo | None = None
    page: int = 1
    strokes: list[Stroke] = Field(default_factory=list)
    by: str | None = None


class CoursewarePageChanged(Message):
    """A page turn: the new page and the strokes already on it."""

    type: Literal["courseware_page_changed"] = "courseware_page_changed"
    document_id: int
    page: int
    strokes: list[Stroke] = Field(default_factory=list)
    by: str


class CoursewareStrokeAdded(Message):
    """A stroke drawn on the current page (every participant gets it)."""

    type: Literal["courseware_stroke_added"] = "courseware_stroke_added"
    stroke: Stroke


class CoursewareCleared(Message):
    """The strokes of a page were removed."""

    type: Literal["courseware_cleared"] = "courseware_cleared"
    page: int
    by: str


class CoursewarePointerMoved(Message):
    """Where a driver's pointer is (null: hidden); not sent back to the mover."""

    type: Literal["courseware_pointer_moved"] = "courseware_pointer_moved"
    participant_id: str
    x: float | None = None
    y: float | None = None


Client = (
    CoursewareOpen
    | CoursewarePage
    | CoursewareStroke
    | CoursewareClear
    | CoursewarePointer
    | CoursewareClose
    | CoursewareSync
)
Server = (
    CoursewareState
    | CoursewarePageChanged
    | CoursewareStrokeAdded
    | CoursewareCleared
    | CoursewarePointerMoved
)
