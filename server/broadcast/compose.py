"""One picture and one sound track from the lesson's decoded frames, on a fixed tick.

The picture: the main classroom's camera full frame; when courseware is open
(课件同步: the current page with the teacher's strokes, see `courseware.py`) or
someone shares a screen, that fills the frame and the main classroom sits
picture-in-picture in the top-right corner (courseware wins over a screen). Before any
video arrives a dark slate is sent, so the TV channel never stalls. The
scaling is done by libswscale through PyAV (`VideoFrame.reformat`), the
picture-in-picture paste by numpy.

The sound: the main classroom's microphone, resampled to s16 48 kHz stereo and
buffered; each tick takes exactly 48000/fps samples (silence when short, the
oldest dropped when the buffer runs more than half a second ahead), so sound
and picture advance on the same clock.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import av
import numpy as np

from server.broadcast.ffmpeg import CHANNELS, SAMPLE_RATE

BYTES_PER_SAMPLE = 2 * CHANNELS


def slate(width: int, height: int) -> bytes:
    """A dark grey yuv420p frame."""
    y = np.full((height, width), 32, np.uint8)
    uv = np.full((height // 2, width), 128, np.uint8)
    return np.concatenate([y, uv]).tobytes()


class Compositor:
    def __init__(self, width: int, height: int, fps: int) -> None:
        if width % 2 or height % 2:
            raise ValueError("width and height must be even")
        self.width, self.height, self.fps = width, height, fps
        self.main: Any = None  # latest av.VideoFrame of the main classroom
        self.screen: Any = None  # latest av.VideoFrame of a shared screen
        self.courseware: Any = None  # the open courseware page (av.VideoFrame), strokes drawn
        self._slate = slate(width, height)
        self._audio: deque[bytes] = deque()
        self._audio_bytes = 0
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
        self.samples_per_tick = SAMPLE_RATE // fps
        self._silence = bytes(self.samples_per_tick * BYTES_PER_SAMPLE)

    # ------------------------------------------------------------ input

    def push_audio(self, frame: Any) -> None:
        for out in self._resampler.resample(frame):
            data = bytes(out.planes[0])[: out.samples * BYTES_PER_SAMPLE]
            self._audio.append(data)
            self._audio_bytes += len(data)
        limit = SAMPLE_RATE // 2 * BYTES_PER_SAMPLE
        while self._audio_bytes > limit and self._audio:
            self._audio_bytes -= len(self._audio.popleft())

    # ------------------------------------------------------------ output

    def audio_chunk(self) -> bytes:
        need = self.samples_per_tick * BYTES_PER_SAMPLE
        if self._audio_bytes < need:
            return self._silence
        out = bytearray()
        while len(out) < need:
            head = self._audio.popleft()
            take = need - len(out)
            out += head[:take]
            if len(head) > take:
                self._audio.appendleft(head[take:])
        self._audio_bytes -= need
        return bytes(out)

    def _fit(self, frame: Any, width: int, height: int, fmt: str) -> np.ndarray:
        """Scale to fit inside width x height keeping the aspect ratio, letterboxed."""
        scale = min(width / frame.width, height / frame.height)
        w = max(2, int(frame.width * scale) // 2 * 2)
        h = max(2, int(frame.height * scale) // 2 * 2)
        img = frame.reformat(width=w, height=h, format=fmt).to_ndarray()
        if (w, h) == (width, height):
            return img
        canvas = np.zeros((height, width, 3), np.uint8)
        y0, x0 = (height - h) // 2, (width - w) // 2
        canvas[y0 : y0 + h, x0 : x0 + w] = img
        return canvas

    def video_frame(self) -> bytes:
        """The current picture as raw yuv420p."""
        board = self.courseware if self.courseware is not None else self.screen
        if self.main is None and board is None:
            return self._slate
        if board is None:
            frame = self.main
            if frame.width * self.height == frame.height * self.width:
                # Same aspect ratio: one swscale pass straight to the output format.
                return frame.reformat(width=self.width, height=self.height,
                                      format="yuv420p").to_ndarray().tobytes()
            rgb = self._fit(frame, self.width, self.height, "rgb24")
        else:
            rgb = self._fit(board, self.width, self.height, "rgb24")
            if self.main is not None:
                pw, ph = self.width // 4 // 2 * 2, self.height // 4 // 2 * 2
                pip = self._fit(self.main, pw, ph, "rgb24")
                margin = max(2, self.width // 64 // 2 * 2)
                rgb[margin : margin + ph, self.width - pw - margin : self.width - margin] = pip
        out = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        return out.to_ndarray().tobytes()
