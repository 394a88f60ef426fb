"""Usage statistics (督导) over REST: summary, drill-down, series, lessons, export, quality.

Admins only, and only for units under their own (403 otherwise). Ranges are
local calendar days (`from`, `to`, inclusive) capped at
`settings.supervision.max_range_days` (422 beyond); the per-lesson list pages.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.audit import audit
from server.auth import Principal
from server.db.models import LessonState, OrgUnit
from server.db.models_supervision import QualitySample
from server.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from server.policy import get_visible_lesson, lesson_places, require_admin, room_role_for
from server.settings import Settings
from server.stats import (
    Granularity,
    Period,
    children_stats,
    lesson_rows,
    make_period,
    series_stats,
    unit_stats,
)
from server.stats.export import CHILD_COLUMNS, LESSON_COLUMNS, to_csv, to_xlsx

router = APIRouter(prefix="/api/stats", tags=["stats"])

FromDay = Annotated[date, Query(alias="from", description="first local day (inclusive)")]
ToDay = Annotated[date, Query(alias="to", description="last local day (inclusive)")]
Tz = Annotated[str | None, Query(description="IANA zone of the days; default from settings")]
Tolerance = Annotated[
    int | None,
    Query(ge=0, le=3600, description="seconds late that still count as on time"),
]


class UnitRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    level: str
    path: str


class PeriodOut(BaseModel):
    first: date
    last: date
    tz: str
    days: int
    on_time_tolerance: int


class SummaryOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    stats: dict[str, Any]


class ChildRow(BaseModel):
    unit: UnitRef
    stats: dict[str, Any]


class ChildrenOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    items: list[ChildRow]


class BucketRow(BaseModel):
    first: date
    last: date
    stats: dict[str, Any]


class SeriesOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    granularity: Granularity
    items: list[BucketRow]


class LessonStatsRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lesson_id: int
    title: str
    school_id: int
    school_name: str
    teacher_name: str
    state: str
    starts_at: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    start_delay_seconds: float | None
    on_time: bool
    minutes_taught: float
    receivers_booked: int
    receivers_connected: int
    pupils_reported: int
    evaluations: int
    mean_evaluation_score: float | None
    recordings_ready: int
    quality_samples: int
    mean_loss: float | None
    mean_rtt_ms: float | None
    mean_low_layer_share: float | None


class LessonsOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    items: list[LessonStatsRow]
    total: int
    limit: int
    offset: int


class QualityIn(BaseModel):
    """A participant's network summary over its stay (the client or signaling sends it)."""

    lesson_id: int
    identity: str | None = Field(default=None, max_length=120)
    loss: float = Field(ge=0, le=1, description="fraction of packets lost")
    rtt_ms: float = Field(ge=0, le=60_000)
    low_layer_share: float = Field(ge=0, le=1, description="share of time on the low layer")
    seconds: float = Field(default=0, ge=0, le=24 * 3600)


class QualityOut(QualityIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    classroom_id: int | None
    created_at: datetime


# --- helpers -------------------------------------------------------------------------------


async def scoped_unit(session: AsyncSession, p: Principal, unit_id: int) -> OrgUnit:
    """The unit (404) if the caller is an admin whose scope contains it (403)."""
    require_admin(p)
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("org unit not found", {"org_unit_id": unit_id})
    if not unit.path.startswith(p.org_path):
        raise PermissionDenied("this unit is outside your scope", {"org_unit_id": unit_id})
    return unit


def _period(settings: Settings, first: date, last: date, tz: str | None, g: Granularity) -> Period:
    return make_period(first, last, tz or settings.timezone, settings.supervision.max_range_days, g)


def _period_out(period: Period, tolerance: int) -> PeriodOut:
    return PeriodOut(
        first=period.first,
        last=period.last,
        tz=period.zone.key,
        days=period.days,
        on_time_tolerance=tolerance,
    )


def _tol(settings: Settings, tolerance: int | None) -> int:
    return settings.supervision.on_time_tolerance if tolerance is None else tolerance


# --- reports -------------------------------------------------------------------------------


@router.get("/units/{unit_id}/summary", response_model=SummaryOut)
async def summary(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> SummaryOut:
    """Totals of the unit (everything under it) over the period."""
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, Granularity.TERM)
    tol = _tol(settings, tolerance)
    stats = await unit_stats(session, unit.path, period, tol)
    return SummaryOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        stats=stats.as_dict(),
    )


@router.get("/units/{unit_id}/children", response_model=ChildrenOut)
async def children(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> ChildrenOut:
    """One row per child unit: the drill-down table (a school has none; see /lessons)."""
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, Granularity.TERM)
    tol = _tol(settings, tolerance)
    rows = await children_stats(session, unit, period, tol)
    return ChildrenOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        items=[ChildRow(unit=UnitRef.model_validate(u), stats=s.as_dict()) for u, s in rows],
    )


@router.get("/units/{unit_id}/series", response_model=SeriesOut)
async def series(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    granularity: Granularity = Granularity.WEEK,
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> SeriesOut:
    """The period cut into day or week buckets (term: one bucket) for charts."""
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, granularity)
    tol = _tol(settings, tolerance)
    rows = await series_stats(session, unit.path, period, tol)
    return SeriesOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        granularity=granularity,
        items=[BucketRow(first=a, last=b, stats=s.as_dict()) for a, b, s in rows],
    )


@router.get("/units/{unit_id}/lessons", response_model=LessonsOut)
async def lessons(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> LessonsOut:
    """Per-lesson facts of the unit's lessons in the period, by start time, paginated."""
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, Granularity.TERM)
    tol = _tol(settings, tolerance)
    total, rows = await lesson_rows(session, unit.path, period, tol, paging.limit, paging.offset)
    return LessonsOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        items=[LessonStatsRow.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/units/{unit_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/vnd.ms-excel": {}}}},
)
async def export(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    table: Literal["children", "lessons"] = "children",
    format: Literal["csv", "xlsx"] = "csv",
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> Response:
    """The drill-down or lesson table as a file; server-side so the export is audited."""
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, Granularity.TERM)
    tol = _tol(settings, tolerance)
    if table == "children":
        rows: list[dict[str, Any]] = [
            {"unit_id": u.id, "unit_name": u.name, "level": u.level.value, **s.as_dict()}
            for u, s in await children_stats(session, unit, period, tol)
        ]
        columns = CHILD_COLUMNS
    else:
        limit = settings.supervision.max_export_rows
        total, lesson_list = await lesson_rows(session, unit.path, period, tol, limit, 0)
        if total > limit:
            raise ValidationFailed(
                f"{total} lessons are more than one export holds ({limit}); "
                "choose a shorter period or a smaller unit",
                {"rows": total, "max_rows": limit},
            )
        rows = [LessonStatsRow.model_validate(r).model_dump() for r in lesson_list]
        columns = LESSON_COLUMNS
    audit(
        session,
        p,
        "stats.exported",
        f"org_unit:{unit.id}",
        {"table": table, "format": format, "from": str(first), "to": str(last), "rows": len(rows)},
        scope_path=unit.path,
    )
    name = f"tongbu-{table}-{unit.id}-{first}-{last}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    # Up to max_export_rows rows: building the file is CPU work, off the event loop.
    if format == "csv":
        body = await asyncio.to_thread(to_csv, rows, columns)
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    body = await asyncio.to_thread(to_xlsx, rows, columns, table)
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )


# --- network quality ingest ----------------------------------------------------------------


@router.post("/quality", response_model=QualityOut, status_code=status.HTTP_201_CREATED)
async def post_quality(body: QualityIn, session: SessionDep, p: CurrentPrincipal) -> QualitySample:
    """A participant of a live or ended lesson reports its own network summary."""
    lesson = await get_visible_lesson(session, p, body.lesson_id)
    room_role_for(p, lesson, await lesson_places(session, lesson))
    if lesson.state not in (LessonState.LIVE, LessonState.ENDED):
        raise InvalidState(
            "quality is reported for live or ended lessons",
            {"lesson_id": lesson.id, "state": lesson.state.value},
        )
    sample = QualitySample(
        lesson_id=lesson.id,
        classroom_id=p.classroom_id,
        identity=p.identity,
        loss=body.loss,
        rtt_ms=body.rtt_ms,
        low_layer_share=body.low_layer_share,
        seconds=body.seconds,
    )
    session.add(sample)
    await session.flush()
    return sample
