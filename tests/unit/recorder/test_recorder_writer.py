"""The encoded-frame writer: keyframe start, segments, gaps, H.264, codec headers."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder import bitstream
from recorder.recording import Recording
from recorder.testsignal import MediaPacket, encode_audio, encode_video
from recorder.writer import EncodedFrame
from server.errors import Unsupported

START = 1_700_000_000.0


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def feed(rec: Recording, track: str, packets: list[MediaPacket], *, rate: int = 90000,
         base: int = 1000, t0: float = 0.0) -> int:
    written = 0
    for p in packets:
        t = t0 + p.time_s
        written += rec.write(track, EncodedFrame(p.data, (base + round(t * rate)) & 0xFFFFFFFF,
                                                 START + t, None))
    return written


def h264_packets(n: int, width: int, height: int) -> list[MediaPacket]:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency"}
    out = []
    for i in range(n):
        f = av.VideoFrame.from_ndarray(np.full((height, width, 3), i * 8 % 255, np.uint8),
                                       format="rgb24").reformat(format="yuv420p")
        f.pts = i
        out += [MediaPacket(float(p.pts or 0) / 30, bytes(p), bool(p.is_keyframe))
                for p in ctx.encode(f)]
    out += [MediaPacket(float(p.pts or 0) / 30, bytes(p), bool(p.is_keyframe))
            for p in ctx.encode()]
    return out


@pytest.fixture(scope="module")
def vp8_240() -> list[MediaPacket]:
    return encode_video(2.0, [0.5], width=320, height=240, gop_s=1.0)


def test_vp8_keyframe_header_gives_resolution(vp8_240: list[MediaPacket]) -> None:
    key, delta = vp8_240[0], vp8_240[1]
    assert bitstream.vp8_is_keyframe(key.data) and not bitstream.vp8_is_keyframe(delta.data)
    assert bitstream.vp8_resolution(key.data) == (320, 240)
    assert bitstream.vp8_resolution(delta.data) is None


@pytest.mark.parametrize("size", [(320, 180), (640, 360), (176, 144)])
def test_h264_sps_gives_resolution_with_cropping(size: tuple[int, int]) -> None:
    key = h264_packets(1, *size)[0]
    assert bitstream.h264_is_keyframe(key.data)
    assert bitstream.h264_resolution(key.data) == size
    assert bitstream.h264_parameter_sets(key.data) is not None


def test_video_waits_for_a_keyframe(tmp_path: Path, vp8_240: list[MediaPacket]) -> None:
    rec = Recording(tmp_path / "r", recording_id="r", room="x", lesson_start_unix=START)
    rec.add_track("cam", participant="t", kind="video", codec="video/VP8")
    deltas = [p for p in vp8_240 if not p.keyframe][:5]
    assert feed(rec, "cam", deltas) == 0
    assert not (tmp_path / "r" / "tracks").exists()
    assert rec.writers["cam"].frames_dropped == 5
    assert feed(rec, "cam", vp8_240, t0=1.0) == len(vp8_240)
    rec.close()
    seg = rec.manifest.tracks[0].segments[0]
    assert (seg.width, seg.height, seg.frames) == (320, 240, len(vp8_240))
    assert seg.start_offset_ms == pytest.approx(1000.0, abs=1)
    info = ffprobe(tmp_path / "r" / seg.file)
    assert info["streams"][0]["codec_name"] == "vp8"
    assert int(info["streams"][0]["nb_read_frames"]) == len(vp8_240)


def test_resolution_change_starts_a_new_segment(tmp_path: Path, vp8_240: list[MediaPacket]
                                                ) -> None:
    small = encode_video(1.0, [], width=160, height=120)
    rec = Recording(tmp_path / "r", recording_id="r", room="x", lesson_start_unix=START)
    rec.add_track("cam", participant="t", kind="video", codec="video/VP8")
    feed(rec, "cam", vp8_240)
    feed(rec, "cam", small, t0=2.0)
    rec.close()
    segs = rec.manifest.tracks[0].segments
    assert [(s.width, s.height, s.reason) for s in segs] == [
        (320, 240, "start"), (160, 120, "resolution_change")]
    assert segs[1].start_offset_ms == pytest.approx(2000.0, abs=1)
    for s in segs:
        st = ffprobe(tmp_path / "r" / s.file)["streams"][0]
        assert (st["width"], st["height"]) == (s.width, s.height)


def test_restart_resumes_into_a_new_segment_with_a_gap(tmp_path: Path,
                                                       vp8_240: list[MediaPacket]) -> None:
    d = tmp_path / "r"
    rec = Recording(d, recording_id="r", room="x", lesson_start_unix=START)
    rec.add_track("cam", participant="t", kind="video", codec="video/VP8")
    feed(rec, "cam", vp8_240)
    # no close(): the process "dies"; a new one opens the same directory
    rec2 = Recording(d, recording_id="r", room="x")
    assert rec2.resumed and rec2.manifest.lesson_start_utc.timestamp() == pytest.approx(START)
    rec2.add_track("cam", participant="t", kind="video", codec="video/VP8")
    feed(rec2, "cam", vp8_240, t0=5.0, base=777)
    rec2.close()
    track = rec2.manifest.track("cam")
    assert track is not None
    assert [s.reason for s in track.segments] == ["start", "restart"]
    assert all(s.closed for s in track.segments)
    assert track.segments[1].start_offset_ms == pytest.approx(5000.0, abs=1)
    assert len(track.gaps) == 1 and track.gaps[0].end_ms == pytest.approx(5000.0, abs=1)
    events = [e.type for e in rec2.events.read()]
    assert events[:2] == ["recorder_started", "recorder_resumed"]


def test_pause_is_a_gap_and_a_timestamp_jump_is_a_new_segment(tmp_path: Path) -> None:
    audio = encode_audio(1.0, [])
    rec = Recording(tmp_path / "r", recording_id="r", room="x", lesson_start_unix=START)
    rec.add_track("mic", participant="t", kind="audio", codec="audio/opus")
    feed(rec, "mic", audio, rate=48000)
    feed(rec, "mic", audio, rate=48000, t0=3.0)  # 2 s of nothing: muted / lost
    feed(rec, "mic", audio, rate=48000, t0=100.0)  # a producer restart
    rec.close()
    track = rec.manifest.tracks[0]
    assert [s.reason for s in track.segments] == ["start", "timestamp_jump"]
    assert track.gaps[0].start_ms == pytest.approx(1000, abs=30)
    assert track.gaps[0].end_ms == pytest.approx(3000, abs=30)
    info = ffprobe(tmp_path / "r" / track.segments[0].file)
    assert info["streams"][0]["codec_name"] == "opus"
    assert float(info["format"]["duration"]) == pytest.approx(4.0, abs=0.1)


def test_h264_is_muxed_into_matroska_without_transcoding(tmp_path: Path) -> None:
    packets = h264_packets(30, 320, 180)
    rec = Recording(tmp_path / "r", recording_id="r", room="x", lesson_start_unix=START)
    rec.add_track("cam", participant="t", kind="video", codec="video/H264")
    feed(rec, "cam", packets)
    rec.close()
    seg = rec.manifest.tracks[0].segments[0]
    assert seg.file.endswith(".mkv")
    st = ffprobe(tmp_path / "r" / seg.file)["streams"][0]
    assert (st["codec_name"], st["width"], st["height"]) == ("h264", 320, 180)
    assert int(st["nb_read_frames"]) == 30
    # the payload bytes are the sender's: no re-encode happened
    with av.open(str(tmp_path / "r" / seg.file)) as c:
        first = next(p for p in c.demux(c.streams.video[0]) if p.size)
    assert first.size >= len(packets[0].data) - 64


def test_unknown_codec_is_refused(tmp_path: Path) -> None:
    rec = Recording(tmp_path / "r", recording_id="r", room="x", lesson_start_unix=START)
    with pytest.raises(Unsupported):
        rec.add_track("cam", participant="t", kind="video", codec="video/AV1")
