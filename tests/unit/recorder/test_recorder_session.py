"""RecorderSession wiring with a fake TongbuClient: producers become tracks, events are logged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.manifest import ManifestStore
from recorder.recording import Recording
from recorder.session import RecorderSession
from recorder.testsignal import encode_audio, encode_video


@dataclass
class Info:
    id: str
    participant_id: str
    kind: str
    codec: str
    source: str = "camera"
    layer: str = "high"


@dataclass
class Person:
    id: str
    identity: str
    role: str


@dataclass
class Frame:
    producer_id: str
    kind: str
    data: bytes
    timestamp: int
    keyframe: bool | None = None


@dataclass
class FakeClient:
    """The subset of TongbuClient the session uses."""

    producers: dict[str, Info] = field(default_factory=dict)
    participants: dict[str, Person] = field(default_factory=dict)
    handlers: dict[str, list[Any]] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    left: bool = False

    def _on(self, name: str) -> Any:
        return lambda h: self.handlers.setdefault(name, []).append(h)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return self._on(name[3:])
        raise AttributeError(name)

    def emit(self, name: str, *args: Any) -> None:
        for h in self.handlers.get(name, []):
            h(*args)

    async def join(self) -> Any:
        return type("Joined", (), {"participant_id": "rec", "producers": []})()

    async def leave(self) -> None:
        self.left = True


async def test_session_records_every_producer_and_logs_lesson_events(tmp_path: Path) -> None:
    fake = FakeClient()
    fake.participants = {"p1": Person("p1", "teacher", "teacher"),
                         "p2": Person("p2", "school-1", "classroom")}
    fake.producers = {"v1": Info("v1", "p1", "video", "video/VP8"),
                      "a2": Info("a2", "p2", "audio", "audio/opus", source="mic")}
    rec = Recording(tmp_path / "r", recording_id="r", room="lesson")
    session = RecorderSession("ws://x", "tok", rec, client_factory=lambda u, t: fake)
    stop = asyncio.Event()
    task = asyncio.create_task(session.run(stop))
    await asyncio.sleep(0.05)
    for p in encode_video(1.0, [0.5]):
        fake.emit("frame", Frame("v1", "video", p.data, round(p.time_s * 90000)))
    for p in encode_audio(1.0, [0.5]):
        fake.emit("frame", Frame("a2", "audio", p.data, round((p.time_s + 0.0065) * 48000)))
    fake.emit("frame", Frame("nope", "video", b"x", 0))  # unknown producer: ignored
    fake.emit("floor_changed", type("F", (), {"holder": "p2"})(), None)
    fake.emit("producer_removed", "a2", "p2")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert fake.left
    m = ManifestStore(tmp_path / "r").load()
    assert m.state == "stopped" and m.main_participant == "teacher"
    tracks = {t.id: t for t in m.tracks}
    assert set(tracks) == {"v1", "a2"}
    assert tracks["v1"].segments[0].frames == 30 and tracks["v1"].classroom == "teacher"
    assert tracks["a2"].source == "mic" and tracks["a2"].segments[0].frames >= 49
    types = [e.type for e in rec.events.read()]
    for t in ("recorder_joined", "track_started", "floor_changed", "track_ended",
              "recorder_stopped"):
        assert t in types
    assert session.writer.dropped == 0 and session.writer.errors == 0


async def test_consumer_layer_changes_become_manifest_layer_switches(tmp_path: Path) -> None:
    """The SFU moves the recorder's consumer between layers; the stats poll records it."""
    fake = FakeClient()
    fake.participants = {"p1": Person("p1", "teacher", "teacher")}
    fake.producers = {"v1": Info("v1", "p1", "video", "video/VP8")}
    layers = iter(["high", "low", "low", "high"])
    written = asyncio.Event()

    async def get_stats(scope: str = "self") -> Any:
        layer = next(layers, "high") if written.is_set() else "high"
        return type("Stats", (), {"consumers": {"c1": {"producer_id": "v1", "layer": layer}}})()

    fake.get_stats = get_stats  # type: ignore[attr-defined]
    rec = Recording(tmp_path / "r", recording_id="r", room="lesson")
    session = RecorderSession("ws://x", "tok", rec, client_factory=lambda u, t: fake,
                              layer_poll_every=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(session.run(stop))
    await asyncio.sleep(0.02)
    for p in encode_video(0.5, []):
        fake.emit("frame", Frame("v1", "video", p.data, round(p.time_s * 90000)))
    written.set()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 10)
    track = ManifestStore(tmp_path / "r").load().tracks[0]
    assert [s.layer for s in track.layer_switches] == ["low", "high"]
    assert track.layer == "high"
    offsets = [s.at_ms for s in track.layer_switches]
    assert offsets == sorted(offsets)
    events = [e for e in rec.events.read() if e.type == "layer_switched"]
    assert [(e.data["previous"], e.data["layer"]) for e in events] == [("high", "low"),
                                                                        ("low", "high")]
