"""The recorder's aiortc seam (recorder/rtcp.py): fails loudly if aiortc 1.16 moves it."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import aiortc
from aiortc.rtcrtpreceiver import RTCRtpReceiver, TimestampMapper
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

from recorder.rtcp import SenderReportTap, rtp_origin


def test_aiortc_still_has_the_seams_we_rely_on() -> None:
    assert aiortc.__version__.startswith("1.16.")
    assert inspect.iscoroutinefunction(RTCRtpReceiver._handle_rtcp_packet)
    assert "self.__timestamp_mapper = TimestampMapper()" in inspect.getsource(
        RTCRtpReceiver.__init__)
    src = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__timestamp_mapper.map(" in src
    m = TimestampMapper()
    assert m.map(1000) == 0 and m._origin == 1000


async def test_sender_reports_are_rebased_like_frames_and_passed_on() -> None:
    seen: list[object] = []

    async def original(packet: object) -> None:
        seen.append(packet)

    mapper = TimestampMapper()
    receiver = SimpleNamespace(_handle_rtcp_packet=original,
                               _RTCRtpReceiver__timestamp_mapper=mapper)
    got: list[tuple[int, int]] = []
    tap = SenderReportTap(receiver, lambda ntp, rtp: got.append((ntp, rtp)))  # type: ignore[arg-type]
    sr = RtcpSrPacket(ssrc=1, sender_info=RtcpSenderInfo(
        ntp_timestamp=123 << 32, rtp_timestamp=5000, packet_count=1, octet_count=1))
    await receiver._handle_rtcp_packet(sr)
    assert got == [] and seen == [sr]  # no frame yet: held, aiortc still sees the packet
    mapper.map(4000)  # the first frame arrives with RTP 4000
    assert rtp_origin(receiver) == 4000  # type: ignore[arg-type]
    tap.flush()
    assert got == [(123 << 32, 1000)]
    sr2 = RtcpSrPacket(ssrc=1, sender_info=RtcpSenderInfo(
        ntp_timestamp=124 << 32, rtp_timestamp=2000, packet_count=1, octet_count=1))
    await receiver._handle_rtcp_packet(sr2)  # RTP wrapped relative to the origin
    assert got[-1] == (124 << 32, (2000 - 4000) & 0xFFFFFFFF)
    tap.detach()
    assert receiver._handle_rtcp_packet is original
