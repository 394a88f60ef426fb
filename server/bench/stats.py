"""`tongbu bench stats`: a province of schools and one term of lessons, then time every report.

The dataset (deterministic for a given `--schools` and `--seed`): a province of
10 cities × 5 counties × 4 townships × N schools. Every school has one receiving
classroom (a teaching point); every fourth school also a main classroom that
teaches 4 lessons a school day, each to 3 teaching points of its county, for a
term of `--weeks` weeks. Lessons are held (95%), cancelled (2%) or missed; held
ones carry attendance, a ready recording, two quality samples and sometimes
evaluations. Rows go in with PostgreSQL COPY (asyncpg), so seeding 1,000 schools
takes about a minute; the timings then call the same functions as the REST API.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from server.db import migrate
from server.db.engine import Database
from server.db.models import (
    Classroom,
    ClassroomKind,
    LessonState,
    OrgUnit,
    RecordingState,
    Role,
    UnitLevel,
)
from server.settings import Settings
from server.stats import (
    Granularity,
    children_stats,
    lesson_rows,
    make_period,
    series_stats,
    unit_stats,
)

PROVINCE_NAME = "基准省 (bench)"
TERM_START = date(2026, 3, 2)  # a Monday
CITIES, COUNTIES, TOWNSHIPS = 10, 5, 4
LESSON_TIMES = [(8, 0), (9, 0), (10, 10), (14, 30)]  # local (UTC+8) starts
LOCAL = timedelta(hours=8)


@dataclass
class Dataset:
    """Rows to COPY, by table; ids are assigned here so rows can reference each other."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)
    province_id: int = 0

    def add(self, table: str, columns: list[str], row: tuple[Any, ...]) -> None:
        self.columns.setdefault(table, columns)
        self.rows.setdefault(table, []).append(row)

    def new_id(self, table: str) -> int:
        self.next_id[table] = self.next_id.get(table, 0) + 1
        return self.next_id[table]


UNIT_COLS = ["id", "name", "level", "parent_id", "path", "created_at"]
ROOM_COLS = ["id", "school_id", "name", "kind", "device_token_version", "created_at"]
USER_COLS = [
    "id",
    "login",
    "display_name",
    "password_hash",
    "role",
    "org_unit_id",
    "is_active",
    "created_at",
]
LESSON_COLS = [
    "id",
    "title",
    "kind",
    "state",
    "teacher_id",
    "main_classroom_id",
    "starts_at",
    "ends_at",
    "actual_start",
    "actual_end",
    "created_at",
]
PART_COLS = ["id", "lesson_id", "classroom_id", "joined_at", "pupils_present", "updated_at"]
REC_COLS = [
    "id",
    "lesson_id",
    "state",
    "storage_key",
    "tracks",
    "manifest",
    "size_bytes",
    "created_at",
]
EVAL_COLS = [
    "id",
    "lesson_id",
    "evaluator_id",
    "rubric",
    "scores",
    "summary",
    "created_at",
    "updated_at",
]
QUAL_COLS = [
    "id",
    "lesson_id",
    "classroom_id",
    "identity",
    "loss",
    "rtt_ms",
    "low_layer_share",
    "seconds",
    "created_at",
]


def build(schools: int, weeks: int, seed: int, offsets: dict[str, int]) -> Dataset:
    """The whole province in memory (about 1 M small tuples for 1,000 schools)."""
    rng = random.Random(seed)
    ds = Dataset(next_id=dict(offsets))
    now = datetime.now(UTC)
    per_township = max(1, -(-schools // (CITIES * COUNTIES * TOWNSHIPS)))

    def unit(name: str, level: UnitLevel, parent: tuple[int, str] | None) -> tuple[int, str]:
        uid = ds.new_id("org_unit")
        path = f"{parent[1] if parent else '/'}{uid}/"
        ds.add(
            "org_unit",
            UNIT_COLS,
            (uid, name, level.value, parent[0] if parent else None, path, now),
        )
        return uid, path

    province = unit(PROVINCE_NAME, UnitLevel.PROVINCE, None)
    ds.province_id = province[0]
    evaluator = ds.new_id("user_account")
    ds.add(
        "user_account",
        USER_COLS,
        (
            evaluator,
            f"bench-eval-{evaluator}",
            "评课专家",
            "x",
            Role.EVALUATOR.value,
            province[0],
            True,
            now,
        ),
    )
    made = 0
    county_points: list[tuple[list[tuple[int, int]], list[int]]] = []  # (mains, receivers)
    for c in range(CITIES):
        city = unit(f"城市 {c + 1}", UnitLevel.CITY, province)
        for k in range(COUNTIES):
            county = unit(f"县 {c + 1}-{k + 1}", UnitLevel.COUNTY, city)
            mains: list[tuple[int, int]] = []
            receivers: list[int] = []
            for t in range(TOWNSHIPS):
                town = unit(f"镇 {c + 1}-{k + 1}-{t + 1}", UnitLevel.TOWNSHIP, county)
                for s in range(per_township):
                    if made >= schools:
                        break
                    school = unit(f"学校 {made + 1}", UnitLevel.SCHOOL, town)
                    made += 1
                    rid = ds.new_id("classroom")
                    ds.add(
                        "classroom",
                        ROOM_COLS,
                        (rid, school[0], "接收教室", ClassroomKind.RECEIVING.value, 0, now),
                    )
                    receivers.append(rid)
                    if s % 4 == 0:
                        mid = ds.new_id("classroom")
                        ds.add(
                            "classroom",
                            ROOM_COLS,
                            (mid, school[0], "主讲教室", ClassroomKind.MAIN.value, 0, now),
                        )
                        tid = ds.new_id("user_account")
                        ds.add(
                            "user_account",
                            USER_COLS,
                            (
                                tid,
                                f"bench-t-{tid}",
                                f"教师 {tid}",
                                "x",
                                Role.TEACHER.value,
                                school[0],
                                True,
                                now,
                            ),
                        )
                        mains.append((mid, tid))
            county_points.append((mains, receivers))

    for mains, receivers in county_points:
        for mid, tid in mains:
            for day in range(weeks * 7):
                d = TERM_START + timedelta(days=day)
                if d.weekday() >= 5:
                    continue
                for h, m in LESSON_TIMES:
                    _lesson(ds, rng, now, d, h, m, mid, tid, receivers, evaluator)
    return ds


def _lesson(
    ds: Dataset,
    rng: random.Random,
    now: datetime,
    d: date,
    h: int,
    m: int,
    main: int,
    teacher: int,
    receivers: list[int],
    evaluator: int,
) -> None:
    lid = ds.new_id("lesson")
    starts = datetime(d.year, d.month, d.day, h, m, tzinfo=UTC) - LOCAL
    ends = starts + timedelta(minutes=40)
    roll = rng.random()
    state = (
        LessonState.ENDED
        if roll < 0.95
        else (LessonState.CANCELLED if roll < 0.97 else LessonState.SCHEDULED)
    )
    held = state is LessonState.ENDED
    a_start = starts + timedelta(seconds=rng.randint(-120, 900)) if held else None
    a_end = a_start + timedelta(minutes=rng.randint(30, 45)) if a_start else None
    ds.add(
        "lesson",
        LESSON_COLS,
        (lid, "基准课", "lesson", state.value, teacher, main, starts, ends, a_start, a_end, now),
    )
    booked = rng.sample(receivers, min(3, len(receivers)))
    for cid in booked:
        ds.add("lesson_receiver", ["lesson_id", "classroom_id"], (lid, cid))
    if not held:
        return
    assert a_start is not None
    for cid in [main, *booked]:
        joined = rng.random() < 0.9
        ds.add(
            "participation",
            PART_COLS,
            (
                ds.new_id("participation"),
                lid,
                cid,
                a_start if joined else None,
                rng.randint(5, 40) if joined else None,
                now,
            ),
        )
        if joined and cid != main:
            ds.add(
                "quality_sample",
                QUAL_COLS,
                (
                    ds.new_id("quality_sample"),
                    lid,
                    cid,
                    f"classroom-{cid}",
                    rng.random() * 0.08,
                    rng.uniform(30, 400),
                    rng.random(),
                    2400.0,
                    now,
                ),
            )
    ds.add(
        "recording",
        REC_COLS,
        (
            ds.new_id("recording"),
            lid,
            RecordingState.READY.value,
            f"bench/{lid}",
            "[]",
            "{}",
            0,
            now,
        ),
    )
    if rng.random() < 0.1:
        scores = f'{{"goals": {rng.randint(10, 20)}, "interaction": {rng.randint(15, 30)}}}'
        ds.add(
            "evaluation",
            EVAL_COLS,
            (ds.new_id("evaluation"), lid, evaluator, "[]", scores, "", now, now),
        )


TABLE_ORDER = [
    "org_unit",
    "user_account",
    "classroom",
    "lesson",
    "lesson_receiver",
    "participation",
    "recording",
    "evaluation",
    "quality_sample",
]
ID_TABLES = [t for t in TABLE_ORDER if t != "lesson_receiver"]


async def _offsets(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {
            t: int(await session.scalar(sa.text(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"')) or 0)
            for t in ID_TABLES
        }


async def _copy(db: Database, ds: Dataset, progress: Progress) -> None:
    total = sum(len(v) for v in ds.rows.values())
    task = progress.add_task("COPY rows", total=total)
    async with db.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        for table in TABLE_ORDER:
            rows = ds.rows.get(table, [])
            for i in range(0, len(rows), 20_000):
                chunk = rows[i : i + 20_000]
                await raw.copy_records_to_table(table, records=chunk, columns=ds.columns[table])
                progress.advance(task, len(chunk))
        for table in ID_TABLES:
            await raw.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)'
            )


async def _existing_province(db: Database) -> int | None:
    async with db.session() as session:
        return await session.scalar(sa.select(OrgUnit.id).where(OrgUnit.name == PROVINCE_NAME))


async def _pick(db: Database, province_id: int) -> dict[str, OrgUnit]:
    """A city, a county and a school of the bench province (the ones with most lessons)."""
    async with db.session() as session:
        province = await session.get(OrgUnit, province_id)
        assert province is not None

        async def first(level: UnitLevel, under: str) -> OrgUnit:
            unit = await session.scalar(
                sa.select(OrgUnit)
                .where(OrgUnit.level == level, OrgUnit.path.startswith(under))
                .order_by(OrgUnit.id)
                .limit(1)
            )
            assert unit is not None
            return unit

        city = await first(UnitLevel.CITY, province.path)
        county = await first(UnitLevel.COUNTY, city.path)
        school = await session.scalar(
            sa.select(OrgUnit)
            .join(Classroom, Classroom.school_id == OrgUnit.id)
            .where(Classroom.kind == ClassroomKind.MAIN, OrgUnit.path.startswith(county.path))
            .limit(1)
        )
        assert school is not None
        return {"province": province, "city": city, "county": county, "school": school}


async def _time_reports(
    db: Database, units: dict[str, OrgUnit], weeks: int, runs: int, tolerance: int
) -> list[tuple[str, list[float], str]]:
    last = TERM_START + timedelta(days=weeks * 7 - 1)
    term = make_period(TERM_START, last, "Asia/Shanghai", 400)
    weekly = make_period(TERM_START, last, "Asia/Shanghai", 400, Granularity.WEEK)
    daily = make_period(TERM_START, last, "Asia/Shanghai", 400, Granularity.DAY)
    p, c, k, s = units["province"], units["city"], units["county"], units["school"]
    reports: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
        ("province summary (term)", lambda ss: unit_stats(ss, p.path, term, tolerance)),
        ("province → cities (term)", lambda ss: children_stats(ss, p, term, tolerance)),
        ("province weekly series", lambda ss: series_stats(ss, p.path, weekly, tolerance)),
        ("city → counties (term)", lambda ss: children_stats(ss, c, term, tolerance)),
        ("county summary (term)", lambda ss: unit_stats(ss, k.path, term, tolerance)),
        ("county daily series", lambda ss: series_stats(ss, k.path, daily, tolerance)),
        (
            "school lessons, page 1 of 50",
            lambda ss: lesson_rows(ss, s.path, term, tolerance, 50, 0),
        ),
        (
            "province lessons, page 100 of 50",
            lambda ss: lesson_rows(ss, p.path, term, tolerance, 50, 4950),
        ),
    ]
    out = []
    for name, run in reports:
        async with db.session() as session:
            await run(session)  # untimed warm-up: the page cache, not the first read, is measured
        times = []
        for _ in range(runs):
            async with db.session() as session:
                started = time.perf_counter()
                result = await run(session)
                times.append(time.perf_counter() - started)
        out.append((name, times, _describe(result)))
    return out


def _describe(result: Any) -> str:
    if hasattr(result, "lessons_scheduled"):
        return f"{result.lessons_scheduled} lessons"
    if isinstance(result, tuple):
        return f"{result[0]} lessons, {len(result[1])} rows"
    return f"{len(result)} rows"


async def _count(db: Database, table: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(sa.text(f'SELECT count(*) FROM "{table}"')) or 0)


def main(
    schools: Annotated[int, typer.Option(help="number of schools in the province")] = 1000,
    weeks: Annotated[int, typer.Option(help="length of the term in weeks")] = 20,
    runs: Annotated[int, typer.Option(help="timed runs per report")] = 5,
    database_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL URL (default: TONGBU_DATABASE_URL)"),
    ] = None,
    reseed: Annotated[bool, typer.Option(help="add a new province even if one exists")] = False,
    seed: Annotated[int, typer.Option(help="random seed of the dataset")] = 1,
) -> None:
    """Seed a province-size dataset into PostgreSQL and time each statistics report."""
    settings = Settings(database_url=database_url) if database_url else Settings()
    if settings.is_sqlite:
        raise typer.BadParameter("the province benchmark runs on PostgreSQL (--database-url)")
    console = Console()
    asyncio.run(_main(settings, schools, weeks, runs, reseed, seed, console))


async def _main(
    settings: Settings,
    schools: int,
    weeks: int,
    runs: int,
    reseed: bool,
    seed: int,
    console: Console,
) -> None:
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        province_id = None if reseed else await _existing_province(db)
        if province_id is None:
            with Progress(console=console) as progress:
                task = progress.add_task("build the province in memory", total=1)
                ds = build(schools, weeks, seed, await _offsets(db))
                progress.advance(task)
                started = time.perf_counter()
                await _copy(db, ds, progress)
            province_id = ds.province_id
            # A settled database: statistics and the visibility map are current
            # (index-only scans), as autovacuum leaves them in production.
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text("VACUUM ANALYZE"))
            console.print(f"seeded in {time.perf_counter() - started:.1f} s")
        else:
            console.print(f"reusing the bench province (org unit {province_id}); --reseed adds one")
        units = await _pick(db, province_id)
        sizes = {t: await _count(db, t) for t in ("lesson", "participation", "quality_sample")}
        console.print(", ".join(f"{t}: {n:,} rows" for t, n in sizes.items()))
        timings = await _time_reports(
            db, units, weeks, runs, settings.supervision.on_time_tolerance
        )
    finally:
        await db.close()
    table = Table(title=f"statistics reports, {schools} schools × {weeks} weeks, {runs} runs")
    for col in ("report", "p50 ms", "max ms", "result"):
        table.add_column(col)
    for name, times, what in timings:
        table.add_row(
            name, f"{statistics.median(times) * 1000:.0f}", f"{max(times) * 1000:.0f}", what
        )
    console.print(table)
    worst = max(max(t) for _, t, _ in timings)
    console.print(f"slowest run: {worst * 1000:.0f} ms (target < 1000 ms)")
