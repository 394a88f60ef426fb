"""Prometheus counters of classroom interaction, fed by the room event bus.

Why an observer: the features only emit events (they already do, for the
lesson log); counting them here keeps metrics out of the handlers and costs
the room nothing. Exposed on the app's own registry (`app.state.metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from signaling.observers import RoomEvent

# Interaction events worth counting (others, e.g. media or membership, have their own metrics).
COUNTED = (
    "floor.",
    "chat.",
    "quiz.",
    "attendance.",
)


class InteractionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "tongbu_interaction_events",
            "Interaction events in rooms (floor changes by reason, chat, quizzes, head counts)",
            ["event", "reason"],
            registry=registry,
        )

    async def __call__(self, event: RoomEvent) -> None:
        if event.name.startswith(COUNTED):
            reason = event.data.get("reason") if event.name == "floor.changed" else ""
            self.events.labels(event.name, str(reason or "")).inc()
