"""`tongbu broadcast`: send a live lesson or a library recording to a TV head-end.

    tongbu broadcast 12 --to rtmp://cdn.example/live/KEY          # live lesson 12
    tongbu broadcast 12 --to udp://239.1.1.1:1234 --size 1280x720  # MPEG-TS multicast
    tongbu broadcast --library 5 --to srt://headend:9000           # a library entry
    tongbu broadcast --file lesson.mp4 --to udp://10.0.0.9:5000 --loop

Progress (state, frames sent, bitrate, reconnects) is shown as a status line,
or printed as one JSON object per second with `--json` (what the server's
broadcast manager reads). SIGINT/SIGTERM stop cleanly. Exit status: 0 when
finished or stopped, 1 when it gave up (the last error is printed), 2 for bad
arguments.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from server.settings import Settings

broadcast_app = typer.Typer(
    help="Send a live lesson or a library recording to RTMP / MPEG-TS.",
    # A group with no subcommands: let options follow LESSON_ID (`broadcast 12 --to URL`).
    context_settings={"allow_interspersed_args": True},
)


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter("size is WIDTHxHEIGHT, e.g. 1280x720") from exc
    if not (64 <= w <= 3840 and 64 <= h <= 2160) or w % 2 or h % 2:
        raise typer.BadParameter("size must be even, between 64x64 and 3840x2160")
    return w, h


async def _library_file(settings: Settings, entry_id: int) -> Path:
    from server.db.engine import Database
    from server.db.models_reach import EntryState, LibraryEntry

    db = Database.from_settings(settings)
    await db.open()
    try:
        async with db.session() as session:
            entry = await session.get(LibraryEntry, entry_id)
            if entry is None or entry.state is not EntryState.PUBLISHED or not entry.mp4_key:
                raise typer.BadParameter(f"library entry {entry_id} is not published")
            assert settings.storage_dir is not None
            return settings.storage_dir / entry.mp4_key
    finally:
        await db.close()


@broadcast_app.callback(invoke_without_command=True)
def broadcast(
    lesson_id: Annotated[int | None, typer.Argument(help="Live lesson to send.")] = None,
    to: Annotated[str, typer.Option("--to", help="rtmp://…, rtmps://…, udp://host:port, "
                                    "srt://host:port")] = "",
    library: Annotated[int | None, typer.Option(help="Play out this library entry.")] = None,
    file: Annotated[Path | None, typer.Option(help="Play out this MP4 / HLS playlist.")] = None,
    url: Annotated[str | None, typer.Option(help="Signaling URL (live).")] = None,
    token: Annotated[str | None, typer.Option(
        envvar="TONGBU_BROADCAST_TOKEN",
        help="Room token (live); default: a hidden one signed with the server secret.")] = None,
    size: Annotated[str, typer.Option(help="Output picture size (live).")] = "1280x720",
    fps: Annotated[int, typer.Option(min=5, max=60)] = 25,
    bitrate: Annotated[int, typer.Option(min=100, max=20000, help="Video kbit/s (live).")] = 2500,
    retries: Annotated[int, typer.Option(min=0, help="Retries in a row before giving up.")] = 10,
    retry_delay: Annotated[float, typer.Option(min=0.01, help="First retry delay (s).")] = 1.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    loop: Annotated[bool, typer.Option(help="Playout: start again at the end.")] = False,
    json_lines: Annotated[bool, typer.Option("--json", help="Status as JSON lines.")] = False,
) -> None:
    """Send one composed stream (main classroom + shared screen) or play a recording out."""
    from rich.console import Console

    from server.broadcast.session import BroadcastOptions, run_live, run_playout
    from server.broadcast.status import BroadcastStatus
    from server.broadcast.target import parse_target
    from server.errors import TongbuError

    console = Console(stderr=True)
    sources = [x is not None for x in (lesson_id, library, file)]
    if sum(sources) != 1:
        raise typer.BadParameter("give exactly one of LESSON_ID, --library or --file")
    if not to:
        raise typer.BadParameter("--to URL is required")
    try:
        target = parse_target(to)
    except TongbuError as exc:
        raise typer.BadParameter(exc.message) from exc
    width, height = _size(size)
    settings = Settings()
    opts = BroadcastOptions(width=width, height=height, fps=fps, bitrate_kbps=bitrate,
                            max_retries=retries, retry_base=retry_delay, duration=duration,
                            loop=loop)
    if file is not None and not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    source = (f"lesson:{lesson_id}" if lesson_id is not None
              else f"library:{library}" if library is not None else f"file:{file}")
    status = BroadcastStatus(source=source, target=target.redacted)

    def report(s: BroadcastStatus) -> None:
        if json_lines:
            sys.stdout.write(s.to_json() + "\n")
            sys.stdout.flush()
        else:
            console.print(
                f"[bold]{s.state}[/] {s.source} → {s.target}  frames={s.frames} "
                f"bitrate={s.bitrate_kbps:.0f} kbit/s  t={s.out_time_s:.1f}s  "
                f"reconnects={s.reconnects}" + (f"  error: {s.last_error}" if s.last_error
                                                 else ""), highlight=False)

    async def main() -> BroadcastStatus:
        from server.broadcast.session import Broadcast

        b = Broadcast(target, opts, status, report)
        loop_ = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop_.add_signal_handler(sig, b.stop)
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread (tests): rely on --duration
        if lesson_id is not None:
            from server.api.lessons import room_name
            from server.tokens import RoomRole, issue_room_token

            room = room_name(lesson_id)
            ws = url or f"ws://{settings.host}:{settings.port}/ws"
            tok = token or issue_room_token(
                settings.ensure_secret(), room=room, identity=f"broadcast-{os.getpid()}",
                role=RoomRole.RECORDER, ttl=settings.auth.room_token_ttl, name="broadcast")
            return await run_live(ws, tok, target, opts, status, broadcast=b)
        path = file if file is not None else await _library_file(settings, int(library or 0))
        return await run_playout(path, target, opts, status, broadcast=b)

    final = asyncio.run(main())
    if final.state == "failed":
        console.print(f"[red]broadcast failed:[/] {final.last_error}")
        raise typer.Exit(1)
