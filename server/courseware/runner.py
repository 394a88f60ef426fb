"""Run the rendering child (`server.courseware.render`) with a timeout and resource limits.

The event loop only waits on the child's pipes; the child gets an address-space
and a CPU-time limit (POSIX rlimits), and is killed when the wall-clock timeout
passes. Whatever happens in there (a bomb, a crash, garbage on stdout) comes
back as a `CoursewareInvalid` with a reason, and the partial output is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from server.courseware.errors import CoursewareInvalid
from server.courseware.render import Job
from server.courseware.sniff import SourceKind
from server.settings import CoursewareSettings

logger = structlog.get_logger("tongbu.courseware")


@dataclass(frozen=True)
class Rendered:
    pages: list[dict[str, int]]
    seconds: float


def _limits(memory_mb: int, cpu_s: float) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = math.ceil(cpu_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def render(
    source: Path, kind: SourceKind, out_dir: Path, settings: CoursewareSettings
) -> Rendered:
    """Render `source` into `out_dir/<n>.jpg`; `out_dir` is removed again on any failure."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    job = Job(
        source=str(source),
        kind=kind.value,
        out_dir=str(out_dir),
        max_pages=settings.max_pages,
        max_px=settings.page_max_px,
        max_image_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
    )
    started = time.monotonic()
    ok = False
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.courseware.render",
            json.dumps(asdict(job)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_limits(settings.render_memory_mb, settings.render_timeout),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), settings.render_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CoursewareInvalid(
                f"rendering took longer than {settings.render_timeout:.0f} s",
                {"reason": "timeout"},
            ) from None
        result = _parse(out)
        if result is None and proc.returncode == -signal.SIGXCPU:
            raise CoursewareInvalid("rendering used up its CPU time", {"reason": "timeout"})
        if result is None:
            logger.warning(
                "courseware render failed",
                returncode=proc.returncode,
                stderr=err.decode("utf-8", "replace")[-500:],
            )
            raise CoursewareInvalid(
                "the file could not be rendered", {"reason": "corrupt", "exit": proc.returncode}
            )
        if "error" in result:
            raise CoursewareInvalid(str(result.get("message", "")), {"reason": result["error"]})
        pages = result.get("pages")
        if not isinstance(pages, list) or not pages:
            raise CoursewareInvalid("the file has no pages", {"reason": "empty"})
        ok = True
        return Rendered(pages=pages, seconds=time.monotonic() - started)
    finally:
        if not ok:
            shutil.rmtree(out_dir, ignore_errors=True)


def _parse(out: bytes) -> dict[str, object] | None:
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
