"""Frames leave the jitter buffer as soon as they are complete, and loss behaves as before."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from media.framing import MarkerJitterBuffer


def _packet(seq: int, ts: int, data: bytes, marker: bool = False) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
    packet._data = data  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return packet


def test_a_video_frame_leaves_at_its_marker_packet() -> None:
    buf = MarkerJitterBuffer(128, is_video=True)
    assert buf.add(_packet(100, 3000, b"a"))[1] is None
    assert buf.add(_packet(101, 3000, b"b"))[1] is None
    _, frame = buf.add(_packet(102, 3000, b"c", marker=True))
    assert frame is not None and frame.data == b"abc" and frame.timestamp == 3000
    # The next frame starts clean: no leftovers of the first.
    _, frame = buf.add(_packet(103, 6000, b"d", marker=True))
    assert frame is not None and frame.data == b"d"
    assert buf.early_frames == 2


def test_a_reordered_frame_leaves_when_its_gap_fills() -> None:
    buf = MarkerJitterBuffer(128, is_video=True)
    assert buf.add(_packet(10, 90, b"1"))[1] is None
    assert buf.add(_packet(12, 90, b"3", marker=True))[1] is None  # 11 still missing
    _, frame = buf.add(_packet(11, 90, b"2"))
    assert frame is not None and frame.data == b"123"


def test_a_lost_marker_falls_back_to_the_timestamp_change() -> None:
    buf = MarkerJitterBuffer(128, is_video=True)
    assert buf.add(_packet(1, 90, b"x"))[1] is None
    # packet 2 (the marker) is lost; the next frame's first packet is 3, not contiguous,
    # so nothing is released (aiortc's rule: a gap blocks, a PLI recovers).
    assert buf.add(_packet(3, 180, b"y", marker=True))[1] is None
    _, frame = buf.add(_packet(2, 90, b"z", marker=True))  # retransmission arrives
    assert frame is not None and frame.data == b"xz"
    # Frame 180 was complete since packet 3: the next packet of any kind releases it.
    _, frame = buf.add(_packet(4, 270, b"w"))
    assert frame is not None and frame.data == b"y"


def test_without_markers_frames_still_complete_on_the_next_timestamp() -> None:
    buf = MarkerJitterBuffer(128, is_video=True)
    assert buf.add(_packet(1, 90, b"a"))[1] is None
    _, frame = buf.add(_packet(2, 180, b"b"))
    assert frame is not None and frame.data == b"a"
    assert buf.early_frames == 0


def test_every_opus_packet_is_a_frame_at_once() -> None:
    buf = MarkerJitterBuffer(16, is_video=False, single_packet_frames=True)
    out = [buf.add(_packet(seq, seq * 960, bytes([seq])))[1] for seq in range(5)]
    assert [f.data if f else None for f in out] == [bytes([s]) for s in range(5)]
