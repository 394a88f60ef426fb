"""`tongbu bench interaction`: how fast chat, quizzes and the floor reach N classrooms.

One server (uvicorn, SQLite in a temporary directory, migrated and seeded, so the
lesson log and the interaction store write for real) and N receiving classrooms
as `TongbuClient`s without media, all in this process and event loop: the times
include the server's work and the clients' parsing on one shared loop, which is
the pessimistic side of a real deployment where clients are other machines.

Measured:
- chat fan-out: the teacher posts messages; delay from the send until each
  classroom has it (every delivery is a sample);
- quiz round: every classroom answers at once; delay of each answer's reply,
  and from the first answer until the teacher's live results count all N;
- floor: a grant until every classroom sees the new speaker.
The chat rate limit is lifted for the teacher's burst (settings.interaction).
"""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from clients.python.client import TongbuClient
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.db.models import Lesson, LessonState
from server.netlab.serve import serve
from server.seed import seed_demo
from server.settings import AuthSettings, InteractionSettings, Settings
from server.tokens import RoomRole, issue_room_token

console = Console()


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    return {
        "measure": name,
        "samples": len(ms),
        "p50_ms": round(_pct(ms, 0.5), 2),
        "p95_ms": round(_pct(ms, 0.95), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


async def _lesson(settings: Settings) -> tuple[int, int]:
    await migrate.upgrade(settings)
    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            seed = await seed_demo(session, Passwords(settings))
            lesson = await session.get(Lesson, seed.lesson_ids[0])
            assert lesson is not None
            lesson.state = LessonState.LIVE
            lesson.actual_start = datetime.now(UTC)
            return lesson.id, lesson.teacher_id
    finally:
        await db.close()


async def _run(classrooms: int, messages: int, rounds: int) -> list[dict[str, Any]]:
    data = Path(tempfile.mkdtemp(prefix="tongbu-bench-ia-"))
    settings = Settings(
        data_dir=data,
        log_level="WARNING",
        auto_record=False,
        auth=AuthSettings(password_time_cost=1, password_memory_kib=64),
        interaction=InteractionSettings(chat_rate=1000.0, chat_burst=1000),
    )
    settings.signaling.max_messages_per_second = 1000.0
    settings.supervision.webhook_worker = False
    settings.notices.mailer = False
    lesson_id, teacher_id = await _lesson(settings)
    room = f"lesson-{lesson_id}"

    def token(identity: str, role: RoomRole) -> str:
        return issue_room_token(
            settings.ensure_secret(), room=room, identity=identity, name=identity,
            role=role, ttl=3600, user_id=teacher_id if role is RoomRole.TEACHER else None,
        )

    results: list[dict[str, Any]] = []
    async with serve(settings, ["127.0.0.1"]) as served:
        url = served.url()
        teacher = TongbuClient(url, token(f"user-{teacher_id}", RoomRole.TEACHER),
                               auto_subscribe=False, request_timeout=60)
        await teacher.join()
        rooms: list[TongbuClient] = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("classrooms joining", total=classrooms)
            for i in range(classrooms):
                c = TongbuClient(url, token(f"bench-classroom-{i}", RoomRole.CLASSROOM),
                                 auto_subscribe=False, request_timeout=60)
                await c.join()
                rooms.append(c)
                progress.advance(task)
        try:
            # Chat fan-out: send times by message text, arrival per classroom.
            sent: dict[str, float] = {}
            chat_delays: list[float] = []
            for c in rooms:
                c.on_chat(lambda e: chat_delays.append(time.monotonic() - sent[e.text]))
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("chat messages", total=messages)
                for n in range(messages):
                    text = f"bench message {n}"
                    sent[text] = time.monotonic()
                    await teacher.chat_send(text)
                    await asyncio.sleep(0.05)
                    progress.advance(task)
            await teacher.wait_until(
                lambda: len(chat_delays) >= messages * classrooms, within=60
            )
            results.append(_row(f"chat fan-out to {classrooms}", chat_delays))

            # Quiz rounds: everyone answers at once.
            answer_rtts: list[float] = []
            complete: list[float] = []
            for r in range(rounds):
                quiz = await teacher.quiz_open(f"round {r}", ["A", "B", "C", "D"])
                qid = quiz.id

                def opened(c: TongbuClient, qid: str = qid) -> bool:
                    return c.interaction.quiz is not None and c.interaction.quiz.id == qid

                await asyncio.gather(
                    *(c.wait_until(functools.partial(opened, c), within=30) for c in rooms)
                )
                done = asyncio.get_running_loop().create_future()

                def on_results(res: Any, qid: str = qid, done: Any = done) -> None:
                    if res.quiz_id == qid and res.answered == classrooms and not done.done():
                        done.set_result(time.monotonic())

                teacher.on_quiz_results(on_results)

                async def answer(c: TongbuClient, i: int, qid: str = qid) -> None:
                    start = time.monotonic()
                    await c.quiz_answer(qid, hands=[i % 5, 1, 0, 2])
                    answer_rtts.append(time.monotonic() - start)

                first = time.monotonic()
                await asyncio.gather(*(answer(c, i) for i, c in enumerate(rooms)))
                complete.append(await asyncio.wait_for(done, 60) - first)
                await teacher.quiz_close(qid)
            results.append(_row(f"quiz answer reply ({classrooms} at once)", answer_rtts))
            results.append(_row(f"quiz: all {classrooms} answers at the teacher", complete))

            # Floor: a grant until every classroom has seen the new speaker.
            floor_delays: list[float] = []
            seen: dict[str, list[float]] = {}
            def on_floor(floor: Any, previous: Any) -> None:
                seen.setdefault(floor.holder or "", []).append(time.monotonic())

            for c in rooms:
                c.on_floor_changed(on_floor)
            for r in range(rounds):
                target = rooms[r % len(rooms)].participant_id or ""
                seen.pop(target, None)
                start = time.monotonic()
                await teacher.grant_floor(target)
                await teacher.wait_until(
                    functools.partial(lambda t: len(seen.get(t, [])) >= classrooms, target),
                    within=30,
                )
                floor_delays.append(max(seen[target]) - start)
            results.append(_row(f"floor grant seen by all {classrooms}", floor_delays))
        finally:
            for c in [teacher, *rooms]:
                await c.close()
    return results


def main(
    classrooms: Annotated[int, typer.Option(help="receiving classrooms in the room")] = 50,
    messages: Annotated[int, typer.Option(help="chat messages the teacher posts")] = 40,
    rounds: Annotated[int, typer.Option(help="quiz rounds and floor grants")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Chat fan-out, quiz rounds and floor grants to N classrooms; latency percentiles."""
    rows = asyncio.run(_run(classrooms, messages, rounds))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"interaction, {classrooms} classrooms (one process)")
    for col in ("measure", "samples", "p50_ms", "p95_ms", "max_ms", "mean_ms"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("measure", "samples", "p50_ms", "p95_ms",
                                               "max_ms", "mean_ms")))
    console.print(table)
