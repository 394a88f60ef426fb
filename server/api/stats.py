"""Usage statistics (督导) over REST: summary, drill-down, series, lessons, export, quality.

Admins only, and only for units under their own (403 otherwise). Ranges are
local calendar days (`from`, `to`, inclusive) capped at
`settings.supervision.max_range_days` (422 beyond); the per-lesson list pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
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
    LessonRow,
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


class LessonsOut(BaseModel):
    unit: UnitRef
    period: PeriodOut
    items: list[LessonRow]
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


@dataclasses.dataclass
class ReportScope:
    """What every report starts from: the unit in the caller's scope, the period, the
    on-time tolerance (and the raw inputs, for reports that cut the period otherwise)."""

    unit: OrgUnit
    period: Period
    tolerance: int
    first: date
    last: date
    tz: str | None
    settings: Settings

    def cut(self, granularity: Granularity) -> Period:
        return _period(self.settings, self.first, self.last, self.tz, granularity)


async def report_scope(
    unit_id: int,
    first: FromDay,
    last: ToDay,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    tz: Tz = None,
    tolerance: Tolerance = None,
) -> ReportScope:
    unit = await scoped_unit(session, p, unit_id)
    period = _period(settings, first, last, tz, Granularity.TERM)
    return ReportScope(unit, period, _tol(settings, tolerance), first, last, tz, settings)


ScopeDep = Annotated[ReportScope, Depends(report_scope)]


# --- reports -------------------------------------------------------------------------------


@router.get("/units/{unit_id}/summary", response_model=SummaryOut)
async def summary(
    r: ScopeDep,
    session: SessionDep,
) -> SummaryOut:
    """Totals of the unit (everything under it) over the period."""
    unit, period, tol = r.unit, r.period, r.tolerance
    stats = await unit_stats(session, unit.path, period, tol)
    return SummaryOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        stats=stats.as_dict(),
    )


@router.get("/units/{unit_id}/children", response_model=ChildrenOut)
async def children(
    r: ScopeDep,
    session: SessionDep,
) -> ChildrenOut:
    """One row per child unit: the drill-down table (a school has none; see /lessons)."""
    unit, period, tol = r.unit, r.period, r.tolerance
    rows = await children_stats(session, unit, period, tol)
    return ChildrenOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        items=[ChildRow(unit=UnitRef.model_validate(u), stats=s.as_dict()) for u, s in rows],
    )


@router.get("/units/{unit_id}/series", response_model=SeriesOut)
async def series(
    r: ScopeDep,
    session: SessionDep,
    granularity: Granularity = Granularity.WEEK,
) -> SeriesOut:
    """The period cut into day or week buckets (term: one bucket) for charts."""
    unit, period, tol = r.unit, r.cut(granularity), r.tolerance
    rows = await series_stats(session, unit.path, period, tol)
    return SeriesOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        granularity=granularity,
        items=[BucketRow(first=a, last=b, stats=s.as_dict()) for a, b, s in rows],
    )


@router.get("/units/{unit_id}/lessons", response_model=LessonsOut)
async def lessons(
    r: ScopeDep,
    paging: PagingDep,
    session: SessionDep,
) -> LessonsOut:
    """Per-lesson facts of the unit's lessons in the period, by start time, paginated."""
    unit, period, tol = r.unit, r.period, r.tolerance
    total, rows = await lesson_rows(session, unit.path, period, tol, paging.limit, paging.offset)
    return LessonsOut(
        unit=UnitRef.model_validate(unit),
        period=_period_out(period, tol),
        items=rows,
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
    r: ScopeDep,
    p: CurrentPrincipal,
    settings: SettingsDep,
    session: SessionDep,
    table: Literal["children", "lessons"] = "children",
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """The drill-down or lesson table as a file; server-side so the export is audited."""
    unit, period, tol = r.unit, r.period, r.tolerance
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
        rows = [dataclasses.asdict(r) for r in lesson_list]
        columns = LESSON_COLUMNS
    audit(
        session,
        p,
        "stats.exported",
        f"org_unit:{unit.id}",
        {
            "table": table,
            "format": format,
            "from": str(r.first),
            "to": str(r.last),
            "rows": len(rows),
        },
        scope_path=unit.path,
    )
    name = f"tongbu-{table}-{unit.id}-{r.first}-{r.last}.{format}"
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
