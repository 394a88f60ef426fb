"""A recorder killed with SIGKILL mid-write leaves playable files; a restart resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recorder.export import export_mp4, media_duration
from recorder.manifest import ManifestStore
from recorder.recording import Recording
from recorder.testsignal import encode_video
from recorder.writer import EncodedFrame

START = 1_700_000_000.0
MEDIA_S = 6.0

# The child records MEDIA_S seconds of VP8 + Opus, says READY, and then hangs
# without closing anything: the parent kills it as a crash would.
CHILD = textwrap.dedent(f"""
    import sys, time
    from pathlib import Path
    from recorder.recording import Recording
    from recorder.testsignal import SyntheticTrack, encode_audio, encode_video, feed
    d = Path(sys.argv[1])
    rec = Recording(d, recording_id=d.name, room="lesson", lesson_start_unix={START})
    rec.add_track("cam", participant="teacher", kind="video", codec="video/VP8", main=True)
    rec.add_track("mic", participant="teacher", kind="audio", codec="audio/opus")
    v = encode_video({MEDIA_S}, [1.0, 2.0, 3.0, 4.0, 5.0])
    a = encode_audio({MEDIA_S}, [1.0, 2.0, 3.0, 4.0, 5.0])
    feed(rec, [SyntheticTrack("cam", v, 90000, 1234, {START} + 0.5, 0.1),
               SyntheticTrack("mic", a, 48000, 99, {START} + 0.5, 0.02)])
    print("READY", flush=True)
    time.sleep(60)
""")


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_name,nb_read_packets:format=duration", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("crash") / "rec-crash"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(d)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[3])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return d


@pytest.mark.parametrize("track", ["cam", "mic"])
def test_killed_recorder_leaves_a_playable_file_missing_at_most_two_seconds(
        killed: Path, track: str) -> None:
    path = killed / "tracks" / f"{track}.000.webm"
    info = probe(path)
    assert "duration" not in info["format"]  # really cut short: no trailer was written
    duration = media_duration(path)
    assert MEDIA_S - 2.0 <= duration <= MEDIA_S + 0.1, duration
    # every packet that is in the file decodes without an error
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough",
                          "-f", "null", "-"],
                         capture_output=True, text=True)
    assert dec.returncode == 0 and dec.stderr.strip() == "", dec.stderr


def test_restart_after_kill_resumes_with_consistent_manifest_and_exports(
        killed: Path, tmp_path: Path) -> None:
    before = ManifestStore(killed).load()  # the manifest on disk is complete JSON
    assert before.state == "recording" and {t.id for t in before.tracks} == {"cam", "mic"}
    rec = Recording(killed, recording_id=killed.name, room="lesson")
    assert rec.resumed
    rec.add_track("cam", participant="teacher", kind="video", codec="video/VP8", main=True)
    for p in encode_video(2.0, [0.5]):
        t = 8.0 + p.time_s  # back 1.5 s after the crash
        rec.write("cam", EncodedFrame(p.data, round(t * 90000), START + t, p.keyframe))
    rec.close()
    after = ManifestStore(killed).load()
    cam = after.track("cam")
    assert cam is not None and [s.reason for s in cam.segments] == ["start", "restart"]
    assert cam.segments[1].start_offset_ms == pytest.approx(8000, abs=5)
    assert after.state == "stopped" and all(s.closed for t in after.tracks for s in t.segments)
    assert [e.type for e in rec.events.read()][:2] == ["recorder_started", "recorder_resumed"]
    result = export_mp4(killed, tmp_path / "out.mp4", layout="main", preset="ultrafast")
    assert result.duration_s == pytest.approx(10.0, abs=0.3)
    assert float(probe(result.path)["format"]["duration"]) == pytest.approx(10.0, abs=0.3)
