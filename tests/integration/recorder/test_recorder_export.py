"""Export: one MP4 (H.264 + AAC) aligned on the manifest timeline, HLS VOD, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recorder.cli import recording_app
from recorder.export import CorruptRecording, export_hls, export_mp4, layout_tiles
from recorder.manifest import StepMarkers
from recorder.syncchk import export_onsets


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_name,codec_type,width,height:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def exported(lesson_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "lesson.mp4"
    ticks: list[float] = []
    result = export_mp4(lesson_dir, out, layout="main", preset="ultrafast",
                        on_progress=lambda d, t: ticks.append(d))
    assert ticks and ticks[-1] == pytest.approx(result.duration_s)
    assert (result.videos, result.audios) == (2, 2)
    return out


def test_export_is_h264_aac_with_the_lesson_duration(exported: Path) -> None:
    info = ffprobe(exported)
    codecs = {s["codec_type"]: s for s in info["streams"]}
    assert codecs["video"]["codec_name"] == "h264" and codecs["audio"]["codec_name"] == "aac"
    assert (codecs["video"]["width"], codecs["video"]["height"]) == (1280, 720)
    # the village classroom joined at 1.2 s and sent 5 s: the lesson lasts ~6.2 s
    assert float(info["format"]["duration"]) == pytest.approx(6.2, abs=0.15)


def test_export_keeps_classrooms_and_audio_aligned(exported: Path) -> None:
    main, village = layout_tiles("main", 1, True)
    (main_on, village_on), audio_on = export_onsets(
        exported, [(t.x, t.y, t.w, t.h) for t in (main, village)])
    assert main_on == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0], abs=0.04)
    assert village_on == pytest.approx([2.0, 3.0, 4.0, 5.0, 6.0], abs=0.04)
    assert audio_on == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], abs=0.04)


def test_hls_vod_is_cut_from_the_export_without_reencoding(exported: Path,
                                                           tmp_path: Path) -> None:
    playlist = export_hls(exported, tmp_path / "hls", segment_s=2)
    text = playlist.read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
    segments = [line for line in text.splitlines() if line.endswith(".ts")]
    assert len(segments) >= 3
    assert all((tmp_path / "hls" / s).stat().st_size > 0 for s in segments)
    total = sum(float(line.split(":")[1].rstrip(",")) for line in text.splitlines()
                if line.startswith("#EXTINF"))
    assert total == pytest.approx(6.2, abs=0.2)


def test_grid_layout_places_every_classroom() -> None:
    tiles = layout_tiles("grid", 3, True)
    assert len(tiles) == 4 and len({(t.x, t.y) for t in tiles}) == 4
    assert all(t.x + t.w <= 1280 and t.y + t.h <= 720 for t in tiles)


def test_corrupt_segment_is_a_clear_error(lesson_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(lesson_dir, broken)
    (broken / "tracks" / "village-1-cam.000.webm").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CorruptRecording, match=r"village-1-cam\.000\.webm"):
        export_mp4(broken, tmp_path / "x.mp4")
    (broken / "tracks" / "village-1-cam.000.webm").unlink()
    with pytest.raises(CorruptRecording, match="missing"):
        export_mp4(broken, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_cli_export_writes_mp4_hls_and_step_markers(lesson_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "data" / "recordings"
    shutil.copytree(lesson_dir, store / "lesson-ok")
    monkeypatch.setenv("TONGBU_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "cli.mp4"
    res = CliRunner().invoke(recording_app, ["export", "lesson-ok", "--layout", "grid",
                                             "--out", str(out), "--hls", str(tmp_path / "h"),
                                             "--no-progress"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000 and (tmp_path / "h" / "index.m3u8").exists()
    markers = StepMarkers(store / "lesson-ok")
    assert markers.status("export_mp4") == "done" and markers.status("export_hls") == "done"
    (store / "lesson-ok" / "manifest.json").write_text("{not json")
    res = CliRunner().invoke(recording_app, ["export", "lesson-ok", "--out", str(out),
                                             "--no-progress"])
    assert res.exit_code == 1 and "corrupt_recording" in res.output
    assert markers.status("export_mp4") == "fail"
