"""Frame assembly that releases a frame the moment it is complete.

Why: aiortc's `JitterBuffer` completes a frame only when the first packet of
the *next* frame arrives (it watches the RTP timestamp change). For a decoder
that is harmless; for a forwarding SFU it holds every video frame for one frame
interval (33 ms at 30 fps, 67 ms at 15 fps) and every Opus packet for 20 ms —
more than the whole relay latency budget — and it skews the sender reports the
consumers stamp, which the recorder uses for A/V sync.

A video frame is complete when the packets from the buffer's head up to the one
carrying the RTP marker bit (last packet of a VP8 frame, RFC 7741 §4.1; of an
H.264 access unit, RFC 6184 §5.1) are all present; an Opus packet is a frame
by itself. Anything else (a lost marker packet, a gap) falls back to aiortc's
timestamp-change rule, so loss behaves exactly as before.
"""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket


class MarkerJitterBuffer(JitterBuffer):
    """`JitterBuffer` with early release on the marker bit (video) or at once (audio)."""

    def __init__(self, capacity: int, *, is_video: bool, single_packet_frames: bool = False):
        super().__init__(capacity, prefetch=0, is_video=is_video)
        self._single = single_packet_frames
        # Timestamps of frames whose marker packet is here but which are not yet released.
        self._marked: set[int] = set()
        self.early_frames = 0  # released before the next frame began (observability, tests)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if frame is not None:
            self._marked.discard(frame.timestamp)
            return pli_flag, frame
        if packet.marker:
            if len(self._marked) > 64:  # frames dropped on overflow never release
                self._marked.clear()
            self._marked.add(packet.timestamp)
        if self._single or self._marked:
            frame = self._complete_head()
            if frame is not None:
                self.early_frames += 1
        return pli_flag, frame

    def _complete_head(self) -> JitterFrame | None:
        """The frame at the head of the buffer if all its packets are here, removed."""
        if self._origin is None:
            return None
        packets: list[RtpPacket] = []
        timestamp: int | None = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                return None
            packets.append(packet)
            if self._single or packet.marker:
                self.remove(count + 1)
                self._marked.discard(timestamp)
                data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
                return JitterFrame(data=data, timestamp=timestamp)
        return None
