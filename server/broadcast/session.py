"""One broadcast run: live (a lesson's room) or playout (a file), with retries.

Lifecycle: starting → running ⇄ reconnecting → finished | stopped | failed.
ffmpeg exiting while we did not ask it to (the receiver is unreachable, the
RTMP server dropped us, SRT lost its peer) is retried after
`retry_base · 2^n` seconds (capped at `retry_max`), up to `max_retries` times
in a row; a run that has been up for `stable_after` seconds resets the count.
`stop` ends every state cleanly: inputs are closed so ffmpeg flushes, the
room is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from server.broadcast.compose import Compositor
from server.broadcast.ffmpeg import FfmpegProcess, live_argv, playout_argv
from server.broadcast.status import BroadcastStatus
from server.broadcast.target import Target

log = structlog.get_logger("tongbu.broadcast")


@dataclass
class BroadcastOptions:
    width: int = 1280
    height: int = 720
    fps: int = 25
    bitrate_kbps: int = 2500
    max_retries: int = 10
    retry_base: float = 1.0
    retry_max: float = 30.0
    stable_after: float = 30.0
    status_interval: float = 1.0
    duration: float | None = None  # stop after this many seconds (tests, trial runs)
    loop: bool = False  # playout: start the file again at its end


def _apply_progress(status: BroadcastStatus, base_frames: int, block: dict[str, str]) -> None:
    if block.get("frame", "").isdigit():
        status.frames = base_frames + int(block["frame"])
    rate = block.get("bitrate", "").removesuffix("kbits/s")
    with contextlib.suppress(ValueError):
        status.bitrate_kbps = round(float(rate), 1)
    us = block.get("out_time_us", "")
    if us.lstrip("-").isdigit():
        status.out_time_s = max(0.0, int(us) / 1e6)
    with contextlib.suppress(ValueError):
        status.speed = float(block.get("speed", "").rstrip("x"))
    if status.state in ("starting", "reconnecting") and status.out_time_s > 0:
        status.state = "running"
    status.updated_at = time.time()


class Broadcast:
    """Runs ffmpeg attempts until done; `feed` (live) writes frames into each attempt."""

    def __init__(self, target: Target, opts: BroadcastOptions, status: BroadcastStatus,
                 on_status: Callable[[BroadcastStatus], None] | None = None) -> None:
        self.target = target
        self.opts = opts
        self.status = status
        self.on_status = on_status or (lambda _s: None)
        self.stop_event = asyncio.Event()

    def stop(self) -> None:
        self.stop_event.set()

    async def _reporter(self) -> None:
        while True:
            self.on_status(self.status)
            await asyncio.sleep(self.opts.status_interval)

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep; True if stop was asked meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)
        return self.stop_event.is_set()

    async def run(self, make_argv: Callable[[], list[str]], *, live: Compositor | None,
                  finite: bool) -> BroadcastStatus:
        reporter = asyncio.create_task(self._reporter())
        if self.opts.duration:
            asyncio.get_running_loop().call_later(self.opts.duration, self.stop_event.set)
        failures = 0
        try:
            while not self.stop_event.is_set():
                base = self.status.frames

                def progress(block: dict[str, str], base: int = base) -> None:
                    _apply_progress(self.status, base, block)

                proc = FfmpegProcess(make_argv(), progress, audio_pipe=live is not None)
                started = time.monotonic()
                await proc.start()
                feeder = (asyncio.create_task(self._feed(proc, live))
                          if live is not None else None)
                waiter = asyncio.create_task(proc.wait())
                stopper = asyncio.create_task(self.stop_event.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if feeder is not None:
                    feeder.cancel()
                    await asyncio.gather(feeder, return_exceptions=True)
                if self.stop_event.is_set() and not waiter.done():
                    await proc.stop()
                rc = await waiter
                if self.stop_event.is_set():
                    self.status.state = "stopped"
                    break
                if finite and rc == 0:
                    self.status.state = "finished"
                    break
                if time.monotonic() - started >= self.opts.stable_after:
                    failures = 0
                failures += 1
                # ffmpeg names the URL in its errors: never show the stream key.
                self.status.last_error = proc.error_text().replace(
                    self.target.url, self.target.redacted)
                log.warning("broadcast output failed", target=self.target.redacted, rc=rc,
                            error=self.status.last_error, attempt=failures)
                if failures > self.opts.max_retries:
                    self.status.state = "failed"
                    self.status.last_error = (
                        f"gave up after {self.opts.max_retries} retries: "
                        f"{self.status.last_error}")
                    break
                self.status.reconnects += 1
                self.status.state = "reconnecting"
                delay = min(self.opts.retry_max, self.opts.retry_base * 2 ** (failures - 1))
                self.on_status(self.status)
                if await self._sleep_or_stop(delay):
                    self.status.state = "stopped"
                    break
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            self.status.updated_at = time.time()
            self.on_status(self.status)
        return self.status

    async def _feed(self, proc: FfmpegProcess, comp: Compositor) -> None:
        """Write one picture and its sound per tick; ends when ffmpeg stops reading."""
        period = 1.0 / comp.fps
        next_at = time.monotonic()
        assert proc.audio is not None
        try:
            while True:
                proc.video.write(comp.video_frame())
                proc.audio.write(comp.audio_chunk())
                await asyncio.gather(proc.video.drain(), proc.audio.drain())
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -1.0:
                    next_at = time.monotonic()  # far behind: do not burst to catch up
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            return  # ffmpeg exited; the run loop sees it and retries


async def run_playout(path: Path, target: Target, opts: BroadcastOptions,
                      status: BroadcastStatus,
                      on_status: Callable[[BroadcastStatus], None] | None = None,
                      broadcast: Broadcast | None = None) -> BroadcastStatus:
    """Send a recording (MP4 or HLS playlist) in real time."""
    b = broadcast or Broadcast(target, opts, status, on_status)
    return await b.run(lambda: playout_argv(path, target, loop=opts.loop), live=None,
                       finite=not opts.loop)


async def run_live(ws_url: str, token: str, target: Target, opts: BroadcastOptions,
                   status: BroadcastStatus,
                   on_status: Callable[[BroadcastStatus], None] | None = None,
                   broadcast: Broadcast | None = None) -> BroadcastStatus:
    """Join the room as a hidden subscriber and send the composed lesson (camera, sound,
    the open courseware page or a shared screen)."""
    from clients.python.client import TongbuClient

    comp = Compositor(opts.width, opts.height, opts.fps)
    b = broadcast or Broadcast(target, opts, status, on_status)
    client = TongbuClient(ws_url, token, decode=True, auto_subscribe=False)
    wanted: dict[str, str] = {}  # producer id → "main" | "screen" | "audio"

    def role_of(info: Any) -> str | None:
        who = client.participants.get(info.participant_id)
        is_teacher = who is not None and who.role == "teacher"
        if info.kind == "video" and info.source == "screen":
            return "screen"
        if info.kind == "video" and is_teacher and info.layer == "high":
            return "main"
        if info.kind == "audio" and is_teacher:
            return "audio"
        return None

    async def consider(info: Any) -> None:
        role = role_of(info)
        if role is None or info.id in wanted:
            return
        wanted[info.id] = role
        try:
            await client.subscribe(info.id)
        except Exception as exc:  # a producer that went away meanwhile
            wanted.pop(info.id, None)
            log.info("subscribe failed", producer=info.id, error=str(exc))

    @client.on_frame
    def _frame(frame: Any) -> None:
        role = wanted.get(frame.producer_id)
        if role is None or frame.frame is None:
            return
        status.inputs[role] = status.inputs.get(role, 0) + 1
        if role == "audio":
            comp.push_audio(frame.frame)
        elif role == "main":
            comp.main = frame.frame
        else:
            comp.screen = frame.frame

    @client.on_producer_added
    async def _added(info: Any) -> None:
        await consider(info)

    @client.on_producer_removed
    def _removed(producer_id: str, _owner: str) -> None:
        role = wanted.pop(producer_id, None)
        if role == "screen":
            comp.screen = None
        elif role == "main":
            comp.main = None

    try:
        await client.join()
    except Exception as exc:  # refused, bad token, lesson not live: say so and stop
        await client.close()
        status.state = "failed"
        status.last_error = f"cannot join the lesson at {ws_url}: {exc}"
        log.warning("broadcast could not join", url=ws_url, error=str(exc))
        (on_status or b.on_status)(status)
        return status
    from server.broadcast.courseware import follow_courseware, http_base

    follower = asyncio.create_task(follow_courseware(client, comp, http_base(ws_url), status))
    try:
        for info in list(client.producers.values()):
            await consider(info)
        return await b.run(
            lambda: live_argv(target, width=opts.width, height=opts.height, fps=opts.fps,
                              bitrate_kbps=opts.bitrate_kbps),
            live=comp, finite=False)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await client.leave()
