"""A synchronisation test signal: video flashes and audio beeps at the same instants.

Used by the sync tests (and usable by a bot publishing into a real room): the
video is dark grey with a white full-frame flash of two frames at every
`flash_times` instant and a 12-bit frame counter drawn as black/white blocks
in the top band; the audio is silence with a 1 kHz beep starting at the same
instants. Both are encoded here (VP8 with libvpx, Opus with libopus) to the
encoded packets a WebRTC sender would send, so the recorder path under test
sees exactly what it sees live. Encoding is test-side only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

COUNTER_BITS = 12
BLOCK = 16  # px per counter block
BAND = BLOCK  # height of the counter band at the top


@dataclass(frozen=True)
class MediaPacket:
    """An encoded frame with its media time (seconds from the signal's start)."""

    time_s: float
    data: bytes
    keyframe: bool


def draw_frame(index: int, width: int, height: int, flash: bool) -> np.ndarray:
    """A yuv420p-ready grey (or white) picture with the frame counter in the top band."""
    y = np.full((height, width), 235 if flash else 40, dtype=np.uint8)
    y[:BAND, :] = 128
    for bit in range(COUNTER_BITS):
        on = (index >> (COUNTER_BITS - 1 - bit)) & 1
        x0 = bit * BLOCK
        if x0 + BLOCK > width:
            break
        y[:BAND, x0:x0 + BLOCK] = 255 if on else 0
    return y


def read_counter(luma: np.ndarray) -> int:
    """Inverse of the band drawn by `draw_frame` (robust to codec noise: block means)."""
    value = 0
    for bit in range(COUNTER_BITS):
        x0 = bit * BLOCK
        block = luma[2:BAND - 2, x0 + 2:x0 + BLOCK - 2]
        value = (value << 1) | int(block.mean() > 128)
    return value


def encode_video(
    duration_s: float,
    flash_times: list[float],
    *,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    gop_s: float = 2.0,
    flash_frames: int = 2,
) -> list[MediaPacket]:
    """VP8 packets of the flashing picture; a flash starts at the first frame at/after each time."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    ctx.bit_rate = 600_000
    ctx.gop_size = max(1, int(gop_s * fps))
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "auto-alt-ref": "0"}
    flash_frames_set: set[int] = set()
    for t in flash_times:
        first = int(np.ceil(t * fps - 1e-6))
        flash_frames_set.update(range(first, first + flash_frames))
    out: list[MediaPacket] = []
    n = round(duration_s * fps)
    chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    for i in range(n):
        y = draw_frame(i, width, height, i in flash_frames_set)
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(_pad(y, frame.planes[0].line_size))
        frame.planes[1].update(_pad(chroma, frame.planes[1].line_size))
        frame.planes[2].update(_pad(chroma, frame.planes[2].line_size))
        frame.pts = i
        frame.time_base = ctx.time_base
        for p in ctx.encode(frame):
            out.append(MediaPacket(float(p.pts or 0) / fps, bytes(p), bool(p.is_keyframe)))
    for p in ctx.encode(None):
        out.append(MediaPacket(float(p.pts or 0) / fps, bytes(p), bool(p.is_keyframe)))
    return out


def _pad(plane: np.ndarray, line_size: int) -> bytes:
    h, w = plane.shape
    if line_size == w:
        return plane.tobytes()
    padded = np.zeros((h, line_size), dtype=np.uint8)
    padded[:, :w] = plane
    return padded.tobytes()


def encode_audio(
    duration_s: float,
    beep_times: list[float],
    *,
    rate: int = 48000,
    beep_ms: float = 80.0,
    freq: float = 1000.0,
) -> list[MediaPacket]:
    """Opus packets (20 ms, stereo) of silence with a sine beep starting at each time."""
    total = round(duration_s * rate)
    signal = np.zeros(total, dtype=np.float64)
    blen = int(beep_ms / 1000 * rate)
    tone = 0.5 * np.sin(2 * np.pi * freq * np.arange(blen) / rate)
    for t in beep_times:
        s = round(t * rate)
        e = min(total, s + blen)
        if s < total:
            signal[s:e] = tone[: e - s]
    pcm = (signal * 32767).astype(np.int16)
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = rate
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.bit_rate = 64000
    ctx.time_base = Fraction(1, rate)
    frame_size = 960
    out: list[MediaPacket] = []
    for start in range(0, total - frame_size + 1, frame_size):
        chunk = pcm[start:start + frame_size]
        stereo = np.repeat(chunk, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for p in ctx.encode(frame):
            out.append(MediaPacket(float(p.pts or 0) / rate, bytes(p), True))
    for p in ctx.encode(None):
        out.append(MediaPacket(float(p.pts or 0) / rate, bytes(p), True))
    return out


@dataclass(frozen=True)
class SyntheticTrack:
    """How a simulated sender maps a packet list onto RTP and the wall clock.

    `media_start_unix` is the wall instant of media time 0 at the sender;
    `arrival_delay_s` models network + jitter buffer (video frames typically
    wait longer than audio); `sr_every_s` how often an RTCP SR is sent
    (0 = never, the recorder must fall back to arrival times);
    `sr_error_ms` a deliberate error in the SR's NTP time (fault injection).
    """

    track_id: str
    packets: list[MediaPacket]
    clock_rate: int
    rtp_base: int
    media_start_unix: float
    arrival_delay_s: float = 0.02
    sr_every_s: float = 1.0
    sr_error_ms: float = 0.0

    def events(self) -> list[tuple[float, str, object]]:
        """(arrival_unix, "frame"|"sr", payload) in arrival order."""
        from recorder.timeline import unix_to_ntp
        from recorder.writer import EncodedFrame

        t0 = self.packets[0].time_s if self.packets else 0.0
        out: list[tuple[float, str, object]] = []
        next_sr = 0.0
        for p in self.packets:
            media_t = p.time_s - t0
            rtp = (self.rtp_base + round(media_t * self.clock_rate)) & 0xFFFFFFFF
            wall = self.media_start_unix + media_t
            if self.sr_every_s and media_t >= next_sr:
                ntp = unix_to_ntp(wall + self.sr_error_ms / 1000.0)
                out.append((wall + 0.005, "sr", (ntp, rtp)))
                next_sr = media_t + self.sr_every_s
            arrival = wall + self.arrival_delay_s
            out.append((arrival, "frame", EncodedFrame(p.data, rtp, arrival, p.keyframe)))
        return out


def feed(recording: object, tracks: list[SyntheticTrack]) -> None:
    """Play simulated senders into a `recorder.recording.Recording` in arrival order."""
    from recorder.recording import Recording
    from recorder.writer import EncodedFrame

    assert isinstance(recording, Recording)
    merged = sorted(
        ((at, i, kind, payload, t.track_id) for t in tracks
         for i, (at, kind, payload) in enumerate(t.events())),
        key=lambda e: (e[0], e[1]),
    )
    for _at, _i, kind, payload, track_id in merged:
        if kind == "frame":
            assert isinstance(payload, EncodedFrame)
            recording.write(track_id, payload)
        else:
            assert isinstance(payload, tuple)
            ntp, rtp = payload
            recording.sender_report(track_id, int(ntp), int(rtp))


def record_synthetic_lesson(
    directory: object,
    *,
    classrooms: tuple[tuple[str, float], ...] = (("teacher", 0.5), ("village-1", 1.2)),
    duration_s: float = 5.0,
    flash_every_s: float = 1.0,
    video_delay_s: float = 0.15,
    audio_delay_s: float = 0.03,
    sender_reports: bool = True,
    audio_sr_error_ms: dict[str, float] | None = None,
    audio_clock_error: float = 0.0,
    seed: int = 7,
) -> object:
    """Record a simulated lesson: each classroom joins at its offset and sends the test signal.

    Flashes happen at the same *lesson* instants (multiples of `flash_every_s`)
    in every classroom, so on a correct timeline all classrooms flash
    together and every beep coincides with its flash. Video is delayed more
    than audio on arrival (as a jitter buffer does), SRs carry the true
    sender clock. Fault injection: `audio_sr_error_ms` shifts a classroom's
    audio SRs; `audio_clock_error` makes its audio RTP clock run fast by
    that fraction (drift). Returns the closed `Recording`.
    """
    import random
    from pathlib import Path

    from recorder.recording import Recording

    rng = random.Random(seed)
    lesson_start = 1_700_000_000.0
    rec = Recording(Path(str(directory)), recording_id=Path(str(directory)).name,
                    room="lesson", lesson_start_unix=lesson_start)
    tracks: list[SyntheticTrack] = []
    n_flashes = int(duration_s / flash_every_s) + 3
    for i, (name, joined_at) in enumerate(classrooms):
        local = [k * flash_every_s - joined_at for k in range(1, n_flashes)]
        local = [t for t in local if 0.1 <= t <= duration_s - 0.2]
        video = encode_video(duration_s, local)
        # Drift injection: the audio content runs on a clock that gains
        # `audio_clock_error` seconds per second, while its timestamps claim otherwise.
        audio = encode_audio(duration_s, [t * (1 + audio_clock_error) for t in local])
        rec.add_track(f"{name}-cam", participant=name, classroom=name, kind="video",
                      codec="video/VP8", main=i == 0)
        rec.add_track(f"{name}-mic", participant=name, classroom=name, kind="audio",
                      codec="audio/opus", source="mic")
        start = lesson_start + joined_at
        sr = 1.0 if sender_reports else 0.0
        tracks.append(SyntheticTrack(f"{name}-cam", video, 90000, rng.randrange(1 << 32),
                                     start, video_delay_s, sr))
        tracks.append(SyntheticTrack(f"{name}-mic", audio, 48000, rng.randrange(1 << 32),
                                     start, audio_delay_s, sr,
                                     (audio_sr_error_ms or {}).get(name, 0.0)))
    feed(rec, tracks)
    rec.close()
    return rec


def _live_tracks() -> tuple[type, type]:
    """aiortc tracks of the signal, paced on a shared wall-clock grid (imported lazily)."""
    import asyncio
    import time

    from aiortc.mediastreams import MediaStreamTrack

    class FlashVideoTrack(MediaStreamTrack):
        """Frames captured at t0 + n/fps; white at every whole second after t0 (2 frames)."""

        kind = "video"

        def __init__(self, t0: float, fps: int = 30, width: int = 320, height: int = 240
                     ) -> None:
            super().__init__()
            self.t0, self.fps, self.width, self.height = t0, fps, width, height
            self._n: int | None = None
            self._chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8)

        def resize(self, width: int, height: int) -> None:
            """A camera changing resolution mid-lesson (the encoder restarts on a keyframe)."""
            self.width, self.height = width, height
            self._chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8)

        async def recv(self) -> av.VideoFrame:
            if self._n is None:  # start on the grid, whenever the sender starts pulling
                self._n = max(0, int(np.ceil((time.time() - self.t0) * self.fps)))
            due = self.t0 + self._n / self.fps
            await asyncio.sleep(max(0.0, due - time.time()))
            n = self._n
            self._n += 1
            flash = n % self.fps in (0, 1)
            y = draw_frame(n, self.width, self.height, flash)
            frame = av.VideoFrame(self.width, self.height, "yuv420p")
            frame.planes[0].update(_pad(y, frame.planes[0].line_size))
            frame.planes[1].update(_pad(self._chroma, frame.planes[1].line_size))
            frame.planes[2].update(_pad(self._chroma, frame.planes[2].line_size))
            frame.pts = n * (90000 // self.fps)
            frame.time_base = Fraction(1, 90000)
            return frame

    class BeepAudioTrack(MediaStreamTrack):
        """20 ms frames captured at t0 + m*0.02; an 80 ms 1 kHz beep at every whole second."""

        kind = "audio"

        def __init__(self, t0: float, rate: int = 48000) -> None:
            super().__init__()
            self.t0, self.rate = t0, rate
            self._m: int | None = None
            self.samples = rate // 50

        async def recv(self) -> av.AudioFrame:
            if self._m is None:
                self._m = max(0, int(np.ceil((time.time() - self.t0) * 50)))
            due = self.t0 + self._m / 50
            await asyncio.sleep(max(0.0, due - time.time()))
            start = self._m * self.samples
            self._m += 1
            idx = start + np.arange(self.samples)
            within = idx % self.rate  # sample index within the current second
            tone = np.where(within < self.rate * 0.08,
                            0.5 * np.sin(2 * np.pi * 1000 * within / self.rate), 0.0)
            pcm = (tone * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.repeat(pcm, 2).reshape(1, -1), format="s16",
                                               layout="stereo")
            frame.sample_rate = self.rate
            frame.pts = start
            frame.time_base = Fraction(1, self.rate)
            return frame

    return FlashVideoTrack, BeepAudioTrack


def live_tracks(t0: float, fps: int = 30) -> tuple[object, object]:
    """A (video, audio) pair of aiortc tracks flashing/beeping at every whole second after t0."""
    video_cls, audio_cls = _live_tracks()
    return video_cls(t0, fps), audio_cls(t0)
