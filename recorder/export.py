"""Export a recording: one MP4 (H.264 + AAC) with every classroom on the lesson timeline, and HLS.

This is the only place in Tongbu that decodes and encodes. It runs an
**ffmpeg subprocess** rather than PyAV in-process, because:

* the work is a filter graph (scale, pad, overlay of N inputs, delay and mix
  of M audio tracks) that ffmpeg's filters do in C; with PyAV the compositing
  would be numpy per frame, several times slower on this 2-core machine;
* a separate process is off the live path by construction: it cannot take the
  GIL or the event loop of a recorder or server, can be niced/killed, and a
  crash in a decoder on a damaged file cannot take the caller down;
* `-progress pipe:1` reports `out_time` for an honest progress bar.

Alignment: every segment file's pts 0 sits at its manifest `start_offset_ms`
on the lesson timeline, so each video input gets `setpts=PTS+offset` and each
audio input is resampled against its timestamps (`aresample=async`, which
fills gaps with silence) then delayed by its offset (`adelay`). The output's
t=0 is lesson time `origin_ms` (0, or earlier if a track started before the
lesson), so exported time == lesson time − origin.

HLS (VOD) for the web player is cut from the MP4 with `-c copy`: the MP4 is
encoded with a fixed 2 s GOP so 4 s HLS segments start on keyframes and no
second encode is needed.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recorder.manifest import Manifest, ManifestStore, Track
from server.errors import NotFound, TongbuError

Layout = Literal["main", "grid"]
AudioMix = Literal["all", "main"]
WIDTH, HEIGHT, FPS = 1280, 720, 30


class ExportError(TongbuError):
    code = "export_failed"
    status = 500


class CorruptRecording(ExportError):
    """A file of the recording cannot be read (missing, truncated header, not media)."""

    code = "corrupt_recording"
    status = 422


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class ExportResult:
    path: Path
    duration_s: float
    origin_ms: float
    videos: int
    audios: int


def probe(path: Path) -> dict[str, object]:
    """ffprobe a file; raise `CorruptRecording` with ffprobe's reason if it is not media."""
    if not path.is_file():
        raise CorruptRecording(f"missing recording file {path.name}", {"file": str(path)})
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_name,codec_type,width,height:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    info: dict[str, object] = {}
    if proc.returncode == 0:
        try:
            info = json.loads(proc.stdout or "{}")
        except ValueError:
            info = {}
    if proc.returncode != 0 or not info.get("streams"):
        reason = (proc.stderr.strip().splitlines() or ["no media stream"])[-1]
        raise CorruptRecording(f"corrupt recording file {path.name}: {reason}",
                               {"file": str(path)})
    return info


def media_duration(path: Path, info: dict[str, object] | None = None) -> float:
    """Seconds of media in a file, also for one cut short by a crash.

    A Matroska file whose writer was killed has no Duration element (it is
    written on close), so ffprobe reports none; the last packet's end is then
    the truth.
    """
    info = info if info is not None else probe(path)
    fmt = info.get("format")
    if isinstance(fmt, dict) and fmt.get("duration") not in (None, "N/A"):
        return float(fmt["duration"])
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time,duration_time",
         "-of", "csv=p=0", str(path)], capture_output=True, text=True, timeout=300, check=False)
    end = 0.0
    for line in proc.stdout.splitlines():
        parts = [x for x in line.strip().split(",") if x and x != "N/A"]
        if parts:
            end = max(end, sum(float(x) for x in parts[:2]))
    return end


def pick_videos(manifest: Manifest) -> tuple[Track | None, list[Track]]:
    """The main classroom's video track and the other classrooms' (one per participant).

    A participant may publish a high and a low layer, or camera and screen;
    the export shows the camera, high layer when present.
    """
    best: dict[str, Track] = {}
    for t in manifest.tracks:
        if t.kind != "video" or not t.segments:
            continue
        rank = (t.source == "camera", t.layer in (None, "high"))
        cur = best.get(t.participant)
        if cur is None or rank > (cur.source == "camera", cur.layer in (None, "high")):
            best[t.participant] = t
    main_id = manifest.main_participant
    if main_id not in best:
        main_id = next(iter(best), None)
    main = best.pop(main_id) if main_id is not None else None
    return main, [best[k] for k in sorted(best)]


def layout_tiles(layout: Layout, n_others: int, has_main: bool) -> list[Tile]:
    """Rectangles on a 1280x720 canvas: main first (if any), then the others."""
    if layout == "main" and has_main:
        if n_others == 0:
            return [Tile(0, 0, WIDTH, HEIGHT)]
        rows = max(4, n_others)
        th = HEIGHT // rows // 2 * 2
        tw = min(320, th * 16 // 9 // 2 * 2)
        main = Tile(0, (HEIGHT - 540) // 2, 960, 540)
        return [main, *[Tile(960 + (320 - tw) // 2, i * th, tw, th) for i in range(n_others)]]
    n = n_others + (1 if has_main else 0)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    cw, ch = WIDTH // cols // 2 * 2, HEIGHT // rows // 2 * 2
    return [Tile((i % cols) * cw, (i // cols) * ch, cw, ch) for i in range(n)]


def build_command(
    directory: Path,
    manifest: Manifest,
    out: Path,
    *,
    layout: Layout = "main",
    audio: AudioMix = "all",
    crf: int = 23,
    preset: str = "veryfast",
) -> tuple[list[str], float, float, int, int]:
    """The ffmpeg command line; returns (argv, duration_s, origin_ms, n_video, n_audio)."""
    main, others = pick_videos(manifest)
    videos = ([main] if main else []) + others
    tiles = layout_tiles(layout, len(others), main is not None)
    audios = [t for t in manifest.tracks if t.kind == "audio" and t.segments
              and (audio == "all" or t.participant == manifest.main_participant)]
    segs = [s for t in videos + audios for s in t.segments]
    if not segs:
        raise ExportError("recording has no media to export")
    origin = min(0.0, *(s.start_offset_ms for s in segs))
    inputs: list[str] = []
    filters: list[str] = []
    durations = []
    for s in segs:
        dur_s = media_duration(directory / s.file)
        durations.append(s.start_offset_ms - origin + max(dur_s * 1000, s.duration_ms))
    total_s = max(durations) / 1000.0
    filters.append(f"color=c=0x101010:s={WIDTH}x{HEIGHT}:r={FPS}:d={total_s:.3f}[base0]")
    idx, last = 0, "base0"
    for track, tile in zip(videos, tiles, strict=False):
        for s in track.segments:
            inputs += ["-i", str(directory / s.file)]
            off = (s.start_offset_ms - origin) / 1000.0
            filters.append(
                f"[{idx}:v]setpts=PTS+{off:.6f}/TB,"
                f"scale={tile.w}:{tile.h}:force_original_aspect_ratio=decrease,"
                f"pad={tile.w}:{tile.h}:(ow-iw)/2:(oh-ih)/2,setsar=1[v{idx}]")
            filters.append(f"[{last}][v{idx}]overlay={tile.x}:{tile.y}:eof_action=pass"
                           f"[base{idx + 1}]")
            last = f"base{idx + 1}"
            idx += 1
    filters.append(f"[{last}]format=yuv420p[vout]")
    mixed: list[str] = []
    for track in audios:
        for s in track.segments:
            inputs += ["-i", str(directory / s.file)]
            delay = round(s.start_offset_ms - origin)
            filters.append(f"[{idx}:a]aresample=48000:async=1:first_pts=0,"
                           f"adelay={delay}:all=1[a{idx}]")
            mixed.append(f"[a{idx}]")
            idx += 1
    if mixed:
        filters.append(f"{''.join(mixed)}amix=inputs={len(mixed)}:normalize=0:"
                       f"duration=longest,apad[aout]")
    else:
        filters.append("anullsrc=r=48000:cl=stereo[aout]")
    gop = 2 * FPS
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        *inputs,
        "-filter_complex", ";".join(filters),
        "-map", "[vout]", "-map", "[aout]",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-r", str(FPS),
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
        "-t", f"{total_s:.3f}", "-movflags", "+faststart",
        "-progress", "pipe:1", "-nostats",
        str(out),
    ]
    return argv, total_s, origin, len(videos), len(audios)


def run_ffmpeg(argv: list[str], total_s: float,
               on_progress: Callable[[float], None] | None = None) -> None:
    """Run ffmpeg, reporting seconds done from `-progress`; raise `ExportError` on failure."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        key, _, value = line.strip().partition("=")
        if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
            if on_progress is not None:
                on_progress(min(total_s, max(0.0, int(value) / 1e6)))
        elif key == "progress" and value == "end" and on_progress is not None:
            on_progress(total_s)
    err = proc.stderr.read()
    if proc.wait() != 0:
        tail = "\n".join(err.strip().splitlines()[-5:])
        raise ExportError(f"ffmpeg failed: {tail}", {"returncode": proc.returncode})


def export_mp4(
    directory: Path,
    out: Path,
    *,
    layout: Layout = "main",
    audio: AudioMix = "all",
    on_progress: Callable[[float, float], None] | None = None,
    preset: str = "veryfast",
) -> ExportResult:
    """Render a recording directory into one MP4 aligned on the manifest's timeline."""
    store = ManifestStore(directory)
    if not store.exists():
        raise NotFound(f"no manifest in {directory}")
    try:
        manifest = store.load()
    except ValueError as exc:
        raise CorruptRecording(f"manifest of {directory.name} is not valid: {exc}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    argv, total_s, origin, nv, na = build_command(directory, manifest, out, layout=layout,
                                                  audio=audio, preset=preset)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    argv[-1] = str(tmp)
    try:
        run_ffmpeg(argv, total_s,
                   (lambda done: on_progress(done, total_s)) if on_progress else None)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, total_s, origin, nv, na)


def export_hls(mp4: Path, out_dir: Path, *, segment_s: int = 4) -> Path:
    """Cut an exported MP4 into an HLS VOD playlist + MPEG-TS segments (no re-encode)."""
    probe(mp4)
    out_dir.mkdir(parents=True, exist_ok=True)
    playlist = out_dir / "index.m3u8"
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(mp4),
            "-c", "copy", "-f", "hls", "-hls_time", str(segment_s),
            "-hls_playlist_type", "vod", "-hls_segment_filename",
            str(out_dir / "seg_%05d.ts"), str(playlist)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise ExportError(f"HLS packaging failed: {proc.stderr.strip()[-400:]}")
    return playlist
