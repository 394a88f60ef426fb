"""What a receiver got: codecs and duration (ffprobe), and whether the picture moves."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import av
import numpy as np


def probe(path: Path) -> tuple[dict[str, str], float]:
    """(codec by stream type, duration in seconds)."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_type,codec_name:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    codecs = {s["codec_type"]: s["codec_name"] for s in info.get("streams", [])}
    return codecs, float(info.get("format", {}).get("duration") or 0)


def moving_frames(path: Path) -> tuple[int, float]:
    """(decoded video frames, share of frames that differ from the one before).

    A frozen or slate picture gives 0; the moving test picture changes every frame.
    """
    lumas: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            lumas.append(frame.to_ndarray(format="gray").astype(np.int16))
    if len(lumas) < 3:
        return len(lumas), 0.0
    changed = sum(1 for a, b in itertools.pairwise(lumas)
                  if float(np.abs(a - b).mean()) > 0.2)
    return len(lumas), changed / (len(lumas) - 1)
