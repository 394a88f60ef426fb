"""Pre-encoded test clips, so publishers cost no encoder and every run sends the same bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path


def ensure_clip(
    cache_dir: Path,
    *,
    width: int,
    height: int,
    fps: int = 30,
    seconds: int = 10,
    video_kbps: int | None = None,
    codec: str = "vp8",
) -> Path:
    """Encode (once, cached by parameters) a test pattern with a frame counter and a tone.

    Keyframe every 2 s, as a camera encoder would send, so late joiners and layer
    switches see realistic keyframe spacing.
    """
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is required to make benchmark clips (apt-get install ffmpeg)")
    kbps = video_kbps or max(300, int(width * height * fps * 0.06 / 1000))
    key = hashlib.sha1(f"{width}x{height}@{fps}:{seconds}:{kbps}:{codec}".encode()).hexdigest()[:10]
    cache_dir.mkdir(parents=True, exist_ok=True)
    ext = "webm" if codec == "vp8" else "mkv"
    out = cache_dir / f"clip-{width}x{height}-{fps}-{key}.{ext}"
    if out.exists():
        return out
    vcodec = (
        ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", f"{kbps}k",
         "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k"]
        if codec == "vp8"
        else ["-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency",
              "-b:v", f"{kbps}k", "-bf", "0"]
    )
    tmp = out.with_suffix(".tmp." + ext)
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        *vcodec, "-g", str(fps * 2), "-keyint_min", str(fps * 2),
        "-c:a", "libopus", "-b:a", "32k", "-ac", "2", "-ar", "48000",
        tmp.as_posix(),
    ]
    subprocess.run(cmd, check=True)
    tmp.rename(out)
    return out
