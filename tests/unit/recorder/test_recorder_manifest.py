"""Manifest atomic writes, the JSON Lines event log, BBB-style step markers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder.manifest import (
    ClockMapping,
    ClockSource,
    EventLog,
    LessonEvent,
    Manifest,
    ManifestStore,
    Segment,
    StepMarkers,
    Track,
)


def _manifest() -> Manifest:
    clock = ClockMapping(source=ClockSource.RTCP_SR, clock_rate=90000, rtp=900, lesson_ms=10.0)
    seg = Segment(index=0, file="tracks/t.000.webm", first_rtp=900, start_offset_ms=10.0,
                  clock=clock)
    return Manifest(recording_id="r1", room="lesson", lesson_start_utc=datetime.now(UTC),
                    tracks=[Track(id="t", participant="teacher", kind="video",
                                  codec="video/VP8", segments=[seg])])


def test_manifest_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path)
    m = _manifest()
    store.save(m)
    m.tracks[0].segments[0].duration_ms = 1234.5
    store.save(m)
    loaded = store.load()
    assert loaded.tracks[0].segments[0].duration_ms == 1234.5
    assert loaded.tracks[0].segments[0].clock.to_lesson_ms(900 + 90000) == pytest.approx(1010.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_manifest_save_is_atomic_when_the_write_fails(tmp_path: Path, monkeypatch:
                                                      pytest.MonkeyPatch) -> None:
    store = ManifestStore(tmp_path)
    store.save(_manifest())
    before = store.path.read_bytes()

    def boom(*_: object) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("recorder.manifest.os.replace", boom)
    m = _manifest()
    m.state = "stopped"
    with pytest.raises(OSError):
        store.save(m)
    assert store.path.read_bytes() == before  # readers still see the complete old version


def test_event_log_appends_orders_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    now = datetime.now(UTC)
    log.append(LessonEvent(offset_ms=200.0, utc=now, type="slide", data={"page": 2}))
    log.append(LessonEvent(offset_ms=100.0, utc=now, type="floor_changed", actor="t"))
    with open(log.path, "ab") as f:
        f.write(b'{"offset_ms": 300.0, "utc": "20')  # crash mid-write
    events = log.read()
    assert [e.type for e in events] == ["floor_changed", "slide"]
    assert events[1].data == {"page": 2}
    assert len(log.path.read_bytes().splitlines()) == 3


def test_step_markers_record_done_and_fail_and_clear_on_rerun(tmp_path: Path) -> None:
    markers = StepMarkers(tmp_path)
    with pytest.raises(RuntimeError), markers.run("export_mp4"):
        raise RuntimeError("disk full")
    assert markers.status("export_mp4") == "fail"
    assert "disk full" in (tmp_path / "status" / "export_mp4.fail").read_text()
    with markers.run("export_mp4"):
        assert markers.status("export_mp4") is None  # cleared while rerunning
    assert markers.status("export_mp4") == "done"
    assert not (tmp_path / "status" / "export_mp4.fail").exists()
    with pytest.raises(ValueError):
        markers.mark("../evil", "done")
