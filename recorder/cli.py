"""Command line of the recorder: `tongbu record ...` and `tongbu recording ...`.

Two typer sub-apps for server/cli.py to register:

    from recorder.cli import record_app, recording_app
    app.add_typer(record_app, name="record")
    app.add_typer(recording_app, name="recording")

`python -m recorder` runs `record_app` alone (the recorder is a separate
process, started per lesson, scaled apart from the server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.settings import Settings

record_app = typer.Typer(help="Record a live lesson as a hidden subscriber (no transcoding).")
recording_app = typer.Typer(help="Recordings: export MP4/HLS, check sync, upload, list.",
                            no_args_is_help=True)


class RecorderSettings(BaseSettings):
    """Recorder-only settings (`TONGBU_RECORDER_*`); S3 is used when `s3_bucket` is set.

    Kept here rather than in server/settings.py so the recorder process does
    not need server changes to gain a knob; fold into `Settings` when stable.
    """

    model_config = SettingsConfigDict(env_prefix="TONGBU_RECORDER_", extra="ignore")

    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_prefix: str = ""
    s3_part_size_mb: int = 8
    cluster_ms: int = 1000
    # A track's file is closed and a new one started after this long (then uploaded
    # while the lesson goes on); 0 keeps one file per track and run.
    segment_max_s: float = 300.0
    # Seconds between progress reports to the server (state, manifest).
    report_every_s: float = 10.0


def make_storage(settings: Settings, rs: RecorderSettings) -> object:
    """S3Storage when a bucket is configured, else LocalStorage(settings.storage_dir)."""
    from recorder.storage import LocalStorage, S3Storage

    if rs.s3_bucket:
        return S3Storage(rs.s3_bucket, endpoint_url=rs.s3_endpoint_url, region=rs.s3_region,
                         access_key=rs.s3_access_key, secret_key=rs.s3_secret_key,
                         prefix=rs.s3_prefix, part_size=rs.s3_part_size_mb << 20,
                         state_dir=settings.data_dir / "uploads")
    assert settings.storage_dir is not None
    return LocalStorage(settings.storage_dir)


def _root(settings: Settings) -> Path:
    assert settings.storage_dir is not None
    return settings.storage_dir


@record_app.callback(invoke_without_command=True)
def record(
    room: Annotated[str, typer.Option(help="Room (lesson) id to record.")],
    url: Annotated[str | None, typer.Option(
        help="Signaling URL, default ws://HOST:PORT/ws")] = None,
    token: Annotated[str | None, typer.Option(
        envvar="TONGBU_RECORDER_TOKEN",
        help="Room token; default: issue a hidden RECORDER token with the server secret.")] = None,
    recording_id: Annotated[str | None, typer.Option(
        help="Recording id; reuse one to resume after a crash (new segments).")] = None,
    lesson_start: Annotated[str | None, typer.Option(
        help="Lesson start (ISO 8601 UTC), the timeline's zero; default now.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    report_url: Annotated[str | None, typer.Option(
        envvar="TONGBU_RECORDER_REPORT_URL",
        help="POST progress and the final state here (the server's recording report URL), "
             "authenticated with the room token.")] = None,
) -> None:
    """Join ROOM as a hidden recorder and write every producer until stopped (SIGINT/SIGTERM)."""
    from recorder.recording import Recording
    from recorder.reporter import Reporter
    from recorder.session import RecorderSession, recording_dir
    from server.tokens import RoomRole, issue_room_token

    settings = Settings()
    rs = RecorderSettings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack to the log
        import faulthandler

        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (ValueError, OSError, AttributeError):
            pass  # stderr is not a real file (embedded, tests): no stack dumps

    url = url or f"ws://{settings.host}:{settings.port}/ws"
    if token is None:
        token = issue_room_token(settings.ensure_secret(), room=room, identity="recorder",
                                 role=RoomRole.RECORDER, ttl=settings.auth.room_token_ttl,
                                 name="recorder")
    rid = recording_id or f"{room}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    start = datetime.fromisoformat(lesson_start).timestamp() if lesson_start else None
    directory = recording_dir(_root(settings), rid)
    recording = Recording(directory, recording_id=rid, room=room, lesson_start_unix=start,
                          cluster_ms=rs.cluster_ms, segment_max_s=rs.segment_max_s or None)
    storage = make_storage(settings, rs) if rs.s3_bucket else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread (embedded/tests): rely on --duration
        if duration:
            loop.call_later(duration, stop.set)
        reporter = Reporter(report_url, token) if report_url else None
        session = RecorderSession(url, token, recording, storage=storage,  # type: ignore[arg-type]
                                  reporter=reporter, report_every=rs.report_every_s)
        await session.run(stop)

    typer.echo(f"recording {rid} -> {directory}" + (" (resumed)" if recording.resumed else ""))
    asyncio.run(main())
    typer.echo(json.dumps({"recording": rid, "state": recording.manifest.state,
                           "tracks": len(recording.manifest.tracks)}))


@recording_app.command("export")
def export(
    recording_id: Annotated[str, typer.Argument(help="Recording id (directory under storage).")],
    layout: Annotated[str, typer.Option(help="main (main large + tiles) or grid.")] = "main",
    out: Annotated[Path | None, typer.Option(help="Output MP4 path.")] = None,
    audio: Annotated[str, typer.Option(help="all (mix every classroom) or main.")] = "all",
    hls: Annotated[Path | None, typer.Option(help="Also write HLS VOD into this dir.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Render one MP4 (H.264 + AAC) of the recording on its timeline; optionally HLS."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from recorder.export import export_hls, export_mp4
    from recorder.manifest import StepMarkers
    from server.errors import TongbuError

    if layout not in ("main", "grid") or audio not in ("all", "main"):
        raise typer.BadParameter("layout is main|grid, audio is all|main")
    settings = Settings()
    directory = _root(settings) / recording_id
    out = out or directory / "export" / f"{recording_id}.mp4"
    markers = StepMarkers(directory) if directory.is_dir() else None
    try:
        with Progress(TextColumn("export"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeRemainingColumn(), disable=not progress) as bar:
            task = bar.add_task("export", total=None)

            def tick(done: float, total: float) -> None:
                bar.update(task, total=total, completed=done)
            if markers is not None:
                with markers.run("export_mp4"):
                    result = export_mp4(directory, out, layout=layout,  # type: ignore[arg-type]
                                        audio=audio, on_progress=tick)  # type: ignore[arg-type]
            else:
                result = export_mp4(directory, out, layout=layout,  # type: ignore[arg-type]
                                    audio=audio, on_progress=tick)  # type: ignore[arg-type]
        typer.echo(f"{result.path} ({result.duration_s:.1f} s, {result.videos} video, "
                   f"{result.audios} audio)")
        if hls is not None:
            if markers is not None:
                with markers.run("export_hls"):
                    playlist = export_hls(out, hls)
            else:
                playlist = export_hls(out, hls)
            typer.echo(str(playlist))
    except TongbuError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@recording_app.command("check")
def check(recording_id: str) -> None:
    """Measure A/V and cross-classroom sync of a recording of the flash/beep test signal."""
    from recorder.syncchk import check_recording

    report = check_recording(_root(Settings()) / recording_id)
    typer.echo(json.dumps(report.summary(), indent=2))
    raise typer.Exit(0 if report.ok else 1)


@recording_app.command("upload")
def upload(recording_id: str) -> None:
    """Upload a recording's files to the configured storage (resumable, checksummed)."""
    from recorder.storage import upload_recording

    settings = Settings()
    storage = make_storage(settings, RecorderSettings())
    t0 = time.monotonic()
    keys = asyncio.run(upload_recording(storage, _root(settings) / recording_id,  # type: ignore[arg-type]
                                        recording_id))
    typer.echo(f"uploaded {len(keys)} files in {time.monotonic() - t0:.1f} s")


@recording_app.command("list")
def list_recordings() -> None:
    """Recordings on local storage with state, tracks and duration."""
    from recorder.manifest import ManifestStore

    root = _root(Settings())
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        store = ManifestStore(d)
        if store.exists():
            m = store.load()
            typer.echo(f"{m.recording_id}\t{m.state}\t{len(m.tracks)} tracks\t"
                       f"{m.duration_ms() / 1000:.1f} s")


@recording_app.command("prune")
def prune(
    dry_run: Annotated[bool, typer.Option(help="Only list what would be deleted.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Delete recordings past their unit's retention, then the oldest over a unit's quota.

    Every deletion removes the files (local and object storage) and writes an
    audit entry; recordings still being made are never touched.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from server.api.recording_retention import delete_recording, plan_prune
    from server.db.engine import Database

    settings = Settings()

    async def run() -> tuple[int, int, int]:
        db = Database.from_settings(settings)
        await db.open()
        try:
            async with db.session() as session:
                plan = await plan_prune(session, settings)
                todo = [(r, "retention") for r in plan.expired] + [
                    (r, "quota") for r in plan.over_quota]
                freed = sum(r.size_bytes for r, _ in todo)
                if dry_run:
                    for rec, why in todo:
                        typer.echo(f"would delete {rec.id}\t{rec.storage_key}\t{why}\t"
                                   f"{rec.size_bytes} bytes")
                    return len(plan.expired), len(plan.over_quota), freed
                with Progress(TextColumn("prune"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.description}"), disable=not progress) as bar:
                    task = bar.add_task("", total=len(todo))
                    for rec, why in todo:
                        bar.update(task, description=f"{rec.storage_key} ({why})")
                        await delete_recording(session, settings, rec, "system:prune", why)
                        bar.advance(task)
                return len(plan.expired), len(plan.over_quota), freed
        finally:
            await db.close()

    expired, over, freed = asyncio.run(run())
    verb = "would free" if dry_run else "freed"
    typer.echo(f"{expired} expired, {over} over quota; {verb} {freed} bytes")
