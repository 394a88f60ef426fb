"""Progress and health of one broadcast, as the CLI prints it and the API returns it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

State = Literal["starting", "running", "reconnecting", "finished", "stopped", "failed"]


@dataclass
class BroadcastStatus:
    source: str
    target: str  # redacted
    state: State = "starting"
    frames: int = 0  # video frames ffmpeg has encoded and sent (all attempts)
    bitrate_kbps: float = 0.0
    out_time_s: float = 0.0  # media time sent in the current attempt
    speed: float = 0.0  # 1.0 = real time
    reconnects: int = 0
    last_error: str | None = None
    inputs: dict[str, int] = field(default_factory=dict)  # decoded frames per producer kind
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> BroadcastStatus:
        return cls(**json.loads(line))

    @property
    def done(self) -> bool:
        return self.state in ("finished", "stopped", "failed")
