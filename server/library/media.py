"""The playable media of a library entry: MP4, HLS and one thumbnail frame.

A recording's directory is `storage_dir/<recording.storage_key>` (the recorder's
layout, docs/recording.md). Publishing reuses the recorder's export when it
exists (`export/<name>.mp4`, `export/hls/index.m3u8`) and runs it otherwise;
the thumbnail is one frame taken by ffmpeg from the MP4 at publish time. All of
it is blocking subprocess work, so callers run `prepare` in a thread.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from recorder.export import ExportError, export_hls, export_mp4, media_duration, probe
from recorder.storage import validate_key
from server.errors import NotFound, ValidationFailed

THUMBNAIL = "thumbnail.jpg"


@dataclass(frozen=True)
class PreparedMedia:
    mp4_key: str
    hls_key: str
    thumbnail_key: str
    duration_s: float


def recording_dir(storage_dir: Path, storage_key: str) -> Path:
    """The recording's directory, refusing keys that would leave the storage root."""
    key = validate_key(storage_key.strip("/"))
    root = storage_dir.resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValidationFailed("recording storage key escapes the storage root")
    return path


def extract_thumbnail(mp4: Path, out: Path, at_s: float, width: int = 480) -> Path:
    """One JPEG frame at `at_s` seconds, `width` pixels wide."""
    tmp = out.with_name(f".{out.name}.part.jpg")
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-ss", f"{max(0.0, at_s):.3f}", "-i", str(mp4), "-frames:v", "1",
            "-vf", f"scale={width}:-2", "-q:v", "4", str(tmp)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"thumbnail extraction failed: {proc.stderr.strip()[-300:]}")
    tmp.replace(out)
    return out


def needs_export(storage_dir: Path, storage_key: str) -> bool:
    """True when publishing must first render the MP4 (minutes for a real lesson)."""
    directory = recording_dir(storage_dir, storage_key)
    if not directory.is_dir():
        raise NotFound("recording files not found", {"storage_key": storage_key})
    return not (directory / "export" / f"{directory.name}.mp4").is_file()


def prepare(storage_dir: Path, storage_key: str) -> PreparedMedia:
    """MP4 + HLS (exported now if missing) and a fresh thumbnail; keys relative to storage."""
    root = storage_dir.resolve()
    directory = recording_dir(storage_dir, storage_key)
    if not directory.is_dir():
        raise NotFound("recording files not found", {"storage_key": storage_key})
    mp4 = directory / "export" / f"{directory.name}.mp4"
    if not mp4.is_file():
        export_mp4(directory, mp4)
    info = probe(mp4)
    duration = media_duration(mp4, info)
    hls_dir = directory / "export" / "hls"
    playlist = hls_dir / "index.m3u8"
    if not playlist.is_file():
        export_hls(mp4, hls_dir)
    thumb = extract_thumbnail(mp4, directory / "export" / THUMBNAIL, min(2.0, duration / 3))
    rel = lambda p: str(p.relative_to(root))  # noqa: E731
    return PreparedMedia(rel(mp4), rel(playlist), rel(thumb), duration)
