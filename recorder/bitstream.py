"""Just enough bitstream parsing to record without decoding.

The writer needs three facts from an encoded frame: is it a keyframe, what is
the picture size (a new file segment starts when it changes), and for H.264
the parameter sets (SPS/PPS) that Matroska stores as codec private data.
Decoding a frame to learn its size would cost a codec per track on the live
path, which is exactly what Tongbu forbids; the headers give the same answer
for a few bytes of parsing.
"""

from __future__ import annotations

from collections.abc import Iterator

# H.264 NAL unit types (ITU-T H.264 Table 7-1).
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def vp8_is_keyframe(data: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the frame tag is 0 for a key frame."""
    return len(data) >= 3 and (data[0] & 0x01) == 0


def vp8_resolution(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame header (start code 9d 01 2a)."""
    if not vp8_is_keyframe(data) or len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def iter_nal_units(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex-B byte stream (what aiortc's H.264 depayloader emits)."""
    i, n = 0, len(data)
    starts: list[int] = []
    while i + 3 <= n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:end]
        # A 4-byte start code leaves a trailing zero on the previous unit.
        yield nal.rstrip(b"\x00") if k + 1 < len(starts) else nal


def h264_nal_types(data: bytes) -> list[int]:
    return [nal[0] & 0x1F for nal in iter_nal_units(data) if nal]


def h264_is_keyframe(data: bytes) -> bool:
    return NAL_IDR in h264_nal_types(data)


def h264_parameter_sets(data: bytes) -> bytes | None:
    """SPS + PPS of an access unit as Annex-B bytes (Matroska's muxer converts it to avcC)."""
    sps = [n for n in iter_nal_units(data) if n and n[0] & 0x1F == NAL_SPS]
    pps = [n for n in iter_nal_units(data) if n and n[0] & 0x1F == NAL_PPS]
    if not sps or not pps:
        return None
    return b"".join(b"\x00\x00\x00\x01" + n for n in (sps[0], pps[0]))


class _Bits:
    """MSB-first bit reader with Exp-Golomb codes (H.264 §9.1)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        if self.pos >= len(self.data) * 8:
            raise ValueError("SPS truncated")
        b = (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return b

    def bits(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _unescape(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 → 00 00)."""
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def h264_sps_resolution(sps_nal: bytes) -> tuple[int, int]:
    """Picture size from a sequence parameter set (H.264 §7.3.2.1.1), cropping applied."""
    r = _Bits(_unescape(sps_nal[1:]))
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags + level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.bit()  # separate_colour_plane_flag
        r.ue()
        r.ue()  # bit depths
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():
                    size = 16 if i < 6 else 64
                    last, nxt = 8, 8
                    for _ in range(size):
                        if nxt != 0:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt if nxt != 0 else last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()
    r.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if r.bit():
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    crop_x = 2 if chroma_format_idc in (1, 2) else 1
    crop_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    return width, height


def h264_resolution(data: bytes) -> tuple[int, int] | None:
    for nal in iter_nal_units(data):
        if nal and nal[0] & 0x1F == NAL_SPS:
            try:
                return h264_sps_resolution(nal)
            except ValueError:
                return None
    return None


def is_keyframe(codec: str, data: bytes) -> bool:
    c = codec.lower()
    if c.endswith("vp8"):
        return vp8_is_keyframe(data)
    if c.endswith("h264"):
        return h264_is_keyframe(data)
    return True  # audio: every Opus packet is independently decodable


def resolution(codec: str, data: bytes) -> tuple[int, int] | None:
    c = codec.lower()
    if c.endswith("vp8"):
        return vp8_resolution(data)
    if c.endswith("h264"):
        return h264_resolution(data)
    return None
