"""Webhooks: org units subscribe a URL to lesson, participant and recording events.

- `signing`: the HMAC-SHA256 signature a receiver checks;
- `outbox`: `emit` writes one delivery row per matching endpoint inside the
  caller's transaction (a transactional outbox: no event without its change,
  no change without its event, and a restart loses nothing);
- `worker`: the background task that delivers due rows with a timeout and
  retries with exponential backoff;
- `observer`: turns signaling's room events (participant joined/left) into emits.
"""

from server.webhooks.outbox import EVENTS, emit, emit_for_lesson

__all__ = ["EVENTS", "emit", "emit_for_lesson"]
