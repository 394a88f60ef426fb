"""The recorder's one aiortc seam: RTCP sender reports of a subscribed track (aiortc 1.16).

Why: aiortc parses incoming SRs in `RTCRtpReceiver._handle_rtcp_packet` but
keeps only the NTP half (as `remoteTimestamp` in stats, and `__lsr` for RTT);
the RTP half — the point of an SR for synchronisation — is dropped. We wrap
`_handle_rtcp_packet` on the receiver *instance* to see each `RtcpSrPacket`.

Also, the frames the passthrough tap reports carry RTP timestamps rebased by
the receiver's private `TimestampMapper` (`__timestamp_mapper._origin` is the
first RTP timestamp seen); an SR's RTP timestamp is raw, so it is rebased
with the same origin before it is compared with frame timestamps.

Like media/passthrough.py this touches private attributes; it belongs next to
`ReceiverTap` in media/passthrough.py and should move there (media/ is owned
by another engineer). tests/unit/recorder/test_rtcp_seam.py fails loudly if
aiortc moves these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtcpSrPacket

_MAPPER = "_RTCRtpReceiver__timestamp_mapper"

SenderReportHandler = Callable[[int, int], None]  # (ntp 64-bit, rebased RTP timestamp)


def rtp_origin(receiver: RTCRtpReceiver) -> int | None:
    """The RTP timestamp the receiver's frames are rebased against (None before any frame)."""
    mapper = getattr(receiver, _MAPPER, None)
    origin = getattr(mapper, "_origin", None)
    return int(origin) if origin is not None else None


class SenderReportTap:
    """Reports every SR of one receiver as (NTP, RTP rebased like the frames).

    SRs that arrive before the first frame (origin unknown) are held and
    delivered by `flush()`, which the session calls after each frame.
    """

    def __init__(self, receiver: RTCRtpReceiver, on_sr: SenderReportHandler) -> None:
        self.receiver = receiver
        self.on_sr = on_sr
        self.count = 0
        self._pending: list[tuple[int, int]] = []
        self._original: Any = receiver._handle_rtcp_packet

        async def handle(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket):
                self._pending.append((packet.sender_info.ntp_timestamp,
                                      packet.sender_info.rtp_timestamp))
                self.flush()
            await self._original(packet)

        receiver._handle_rtcp_packet = handle  # type: ignore[method-assign]

    def flush(self) -> None:
        if not self._pending:
            return
        origin = rtp_origin(self.receiver)
        if origin is None:
            return
        pending, self._pending = self._pending, []
        for ntp, rtp in pending:
            self.count += 1
            self.on_sr(ntp, (rtp - origin) & 0xFFFFFFFF)

    def detach(self) -> None:
        self.receiver._handle_rtcp_packet = self._original  # type: ignore[method-assign]
