"""`tongbu bench courseware`: rendering cost, bomb refusal, and page turns to N classrooms.

Rendering: PDFs made here with PDFium (a filled rectangle per page) of several
sizes go through the real renderer child (`server.courseware.runner`), which is
what an upload waits for; the two PDF bombs (5000 pages, a 200000 pt page) show
how fast they are refused. Page turns: one server (uvicorn, migrated and seeded
SQLite in a temp dir), a document uploaded over REST, the teacher and N
classrooms as `TongbuClient`s in this process; the delay from the teacher's
request until every classroom shows the new page.
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from clients.python.client import TongbuClient
from server.auth import Passwords
from server.courseware import runner
from server.courseware.errors import CoursewareInvalid
from server.courseware.sniff import SourceKind
from server.db import migrate
from server.db.engine import Database
from server.db.models import Lesson, LessonState
from server.netlab.serve import serve
from server.seed import seed_demo
from server.settings import AuthSettings, CoursewareSettings, Settings
from server.tokens import RoomRole, TokenType, encode, issue_room_token

console = Console()


def sample_pdf(pages: int, size: tuple[float, float] = (842, 595), draw: bool = True) -> bytes:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    pdf = pdfium.PdfDocument.new()
    for i in range(pages):
        page = pdf.new_page(*size)
        if draw:
            rect = raw.FPDFPageObj_CreateNewRect(40 + (i % 40) * 10, 40, 200, 120)
            raw.FPDFPageObj_SetFillColor(rect, 200, 30, 30, 255)
            raw.FPDFPath_SetDrawMode(rect, raw.FPDF_FILLMODE_ALTERNATE, False)
            raw.FPDFPage_InsertObject(page.raw, rect)
            raw.FPDFPage_GenerateContent(page.raw)
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _bomb_page() -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(200_000, 200_000).close()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def _render_rows(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    limits = CoursewareSettings()
    work = Path(tempfile.mkdtemp(prefix="tongbu-bench-cw-"))
    cases: list[tuple[str, bytes]] = [(f"{n}-page PDF", sample_pdf(n)) for n in sizes]
    cases += [("bomb: 5000 pages", sample_pdf(5000, (612, 792), draw=False)),
              ("bomb: 200000 pt page", _bomb_page())]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("rendering", total=len(cases))
        for i, (name, data) in enumerate(cases):
            source = work / f"{i}.pdf"
            source.write_bytes(data)
            start = time.monotonic()
            try:
                done = await runner.render(source, SourceKind.PDF, work / f"out-{i}", limits)
                outcome, pages = "rendered", len(done.pages)
            except CoursewareInvalid as exc:
                outcome, pages = str((exc.details or {}).get("reason")), 0
            took = time.monotonic() - start
            rows.append({"measure": name, "outcome": outcome, "seconds": round(took, 3),
                         "ms_per_page": round(1000 * took / pages, 1) if pages else None})
            progress.advance(task)
    return rows


async def _turn_rows(classrooms: int, turns: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="tongbu-bench-cwturn-"))
    settings = Settings(data_dir=data, log_level="WARNING", auto_record=False,
                        auth=AuthSettings(password_time_cost=1, password_memory_kib=64))
    settings.supervision.webhook_worker = False
    settings.notices.mailer = False
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings))
            lesson = await session.get(Lesson, seed.lesson_ids[0])
            assert lesson is not None
            lesson.state, lesson.actual_start = LessonState.LIVE, datetime.now(UTC)
            lesson_id, teacher_id = lesson.id, lesson.teacher_id
    finally:
        await db.close()
    room = f"lesson-{lesson_id}"

    def token(identity: str, role: RoomRole) -> str:
        return issue_room_token(settings.ensure_secret(), room=room, identity=identity,
                                name=identity, role=role, ttl=3600)

    async with serve(settings, ["127.0.0.1"]) as served:
        base = f"http://127.0.0.1:{served.port}"
        access = encode(settings.ensure_secret(), TokenType.ACCESS, {"sub": str(teacher_id)}, 600)
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            r = await http.post("/api/courseware", headers={"Authorization": f"Bearer {access}"},
                                files={"file": ("bench.pdf", sample_pdf(10), "application/pdf")},
                                data={"lesson_id": str(lesson_id)})
            r.raise_for_status()
            doc = r.json()
        teacher = TongbuClient(served.url(), token("teacher", RoomRole.TEACHER),
                               auto_subscribe=False, request_timeout=60)
        await teacher.join()
        rooms = []
        for i in range(classrooms):
            c = TongbuClient(served.url(), token(f"bench-classroom-{i}", RoomRole.CLASSROOM),
                             auto_subscribe=False, request_timeout=60)
            await c.join()
            rooms.append(c)
        delays: list[float] = []
        try:
            await teacher.courseware_open(doc["id"])
            for c in rooms:
                await c.wait_until(lambda c=c: c.courseware.document is not None, within=30)
            for t in range(turns):
                page = 2 + t % (doc["page_count"] - 1)
                if page == teacher.courseware.page:
                    page = 1
                start = time.monotonic()
                await teacher.courseware_page(page)
                for c in rooms:
                    await c.wait_until(lambda c=c, p=page: c.courseware.page == p, within=30)
                delays.append(time.monotonic() - start)
        finally:
            for c in [teacher, *rooms]:
                await c.close()
    ms = sorted(d * 1000 for d in delays)
    return {"measure": f"page turn seen by all {classrooms} classrooms", "samples": len(ms),
            "p50_ms": round(ms[len(ms) // 2], 2), "max_ms": round(ms[-1], 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


def main(
    classrooms: Annotated[int, typer.Option(help="receiving classrooms for page turns")] = 30,
    turns: Annotated[int, typer.Option(help="page turns")] = 20,
    pages: Annotated[str, typer.Option(help="comma-separated PDF sizes to render")] = "1,10,50",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Courseware: render time per page, PDF bombs refused, page-turn fan-out latency."""
    sizes = [int(x) for x in pages.split(",") if x.strip()]
    render_rows = asyncio.run(_render_rows(sizes))
    turn_row = asyncio.run(_turn_rows(classrooms, turns))
    if as_json:
        print(json.dumps({"render": render_rows, "page_turns": turn_row}, indent=2))
        return
    table = Table(title="courseware rendering (child process, 1600 px pages)")
    for col in ("measure", "outcome", "seconds", "ms_per_page"):
        table.add_column(col)
    for row in render_rows:
        table.add_row(*(str(row[k]) for k in ("measure", "outcome", "seconds", "ms_per_page")))
    console.print(table)
    turns_table = Table(title="courseware page turns (one process)")
    for col in turn_row:
        turns_table.add_column(col)
    turns_table.add_row(*(str(v) for v in turn_row.values()))
    console.print(turns_table)
