"""The encoder: one ffmpeg process per attempt, fed raw frames or a file, with progress.

Why a process: encoding H.264 is the one CPU-heavy step; in ffmpeg it runs in
C, off this process's event loop and GIL, can be niced or killed, and a crash
cannot take the broadcaster down (it is retried). Live input arrives as raw
yuv420p video on stdin and s16le 48 kHz stereo on an extra inherited pipe, both
on the same tick clock so sound and picture stay together. `-progress pipe:1`
reports frames, bitrate and media time once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from server.broadcast.target import Target

SAMPLE_RATE = 48000
CHANNELS = 2


def live_argv(target: Target, *, width: int, height: int, fps: int,
              bitrate_kbps: int) -> list[str]:
    """Raw video on stdin, raw audio on the pipe `FfmpegProcess` opens (`pipe:AUDIO`)."""
    gop = 2 * fps
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps),
        "-thread_queue_size", "64", "-probesize", "32", "-analyzeduration", "0", "-i", "pipe:0",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS),
        # Raw inputs need no probing; probing the second would wait for seconds of sound
        # while nobody reads the first pipe (ffmpeg opens inputs one after the other).
        "-thread_queue_size", "64", "-probesize", "32", "-analyzeduration", "0",
        "-i", "pipe:AUDIO",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-b:v", f"{bitrate_kbps}k", "-maxrate", f"{bitrate_kbps}k",
        "-bufsize", f"{2 * bitrate_kbps}k",
        "-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE),
        "-progress", "pipe:1", "-stats_period", "1",
        *target.output_args(),
    ]


def playout_argv(path: Path | str, target: Target, *, loop: bool = False) -> list[str]:
    """Play a file (MP4 or HLS playlist) in real time without re-encoding."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-re", *(["-stream_loop", "-1"] if loop else []), "-i", str(path),
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
        "-progress", "pipe:1", "-stats_period", "1",
        *target.output_args(),
    ]


class FfmpegProcess:
    """One running ffmpeg; `on_progress(dict)` gets each `-progress` block."""

    def __init__(self, argv: list[str], on_progress: Callable[[dict[str, str]], None],
                 *, audio_pipe: bool = False) -> None:
        self.argv = argv
        self.on_progress = on_progress
        self.audio_pipe = audio_pipe
        self.proc: asyncio.subprocess.Process | None = None
        self.audio: asyncio.StreamWriter | None = None
        self.stderr_tail: list[str] = []
        self._readers: list[asyncio.Task[None]] = []
        self._audio_transport: asyncio.WriteTransport | None = None

    async def start(self) -> None:
        read_fd = write_fd = -1
        pass_fds: tuple[int, ...] = ()
        if self.audio_pipe:
            read_fd, write_fd = os.pipe()
            # The child inherits the read end under the same number: name it in the argv.
            pass_fds = (read_fd,)
            self.argv = [a if a != "pipe:AUDIO" else f"pipe:{read_fd}" for a in self.argv]
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, pass_fds=pass_fds,
        )
        if self.audio_pipe:
            os.close(read_fd)
            loop = asyncio.get_running_loop()
            pipe = os.fdopen(write_fd, "wb", buffering=0)
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop=loop), pipe)
            self._audio_transport = transport
            self.audio = asyncio.StreamWriter(transport, protocol, None, loop)
        self._readers = [asyncio.create_task(self._read_progress()),
                         asyncio.create_task(self._read_stderr())]

    @property
    def video(self) -> asyncio.StreamWriter:
        assert self.proc is not None and self.proc.stdin is not None
        return self.proc.stdin

    async def _read_progress(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        block: dict[str, str] = {}
        async for raw in self.proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            block[key] = value
            if key == "progress":
                self.on_progress(block)
                block = {}

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                self.stderr_tail = [*self.stderr_tail[-19:], line]

    def error_text(self) -> str:
        return self.stderr_tail[-1] if self.stderr_tail else "ffmpeg exited"

    async def wait(self) -> int:
        assert self.proc is not None
        rc = await self.proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return rc

    async def close_inputs(self) -> None:
        """End of input: ffmpeg flushes the encoder and the muxer, then exits."""
        for writer in (self.proc.stdin if self.proc else None, self.audio):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()

    async def stop(self, grace: float = 5.0) -> int:
        """Stop cleanly (EOF, then SIGINT), kill after `grace` seconds."""
        if self.proc is None:
            return 0
        if self.proc.returncode is None:
            await self.close_inputs()
            try:
                return await asyncio.wait_for(asyncio.shield(self.wait()), grace / 2)
            except TimeoutError:
                pass
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                return await asyncio.wait_for(asyncio.shield(self.wait()), grace / 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        return await self.wait()
