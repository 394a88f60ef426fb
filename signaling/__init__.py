"""WebSocket signaling: typed protocol, sessions, room membership, floor control. No media code."""
