"""Codec knowledge the SFU needs without a codec library: which codecs it can
forward, how to recognise a keyframe in an encoded frame, and how to ask aiortc
to negotiate exactly the producer's codec on a consumer's sender.

Keyframe detection reads only a few header bytes (no decoder):
- VP8 (RFC 6386 §9.1): the frame tag's bit 0 is 0 for a key frame, and a key
  frame carries the start code 9d 01 2a at bytes 3..5.
- H.264 (Annex B, as aiortc's depacketizer emits it): a frame is a keyframe if
  it contains an IDR slice (NAL type 5) or an SPS (type 7).
- Opus: every packet is independently decodable.
"""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender

from server.errors import Unsupported

FORWARDABLE = ("video/vp8", "video/h264", "audio/opus")
# profile_idc 0x42 (Baseline) with the constraint_set1 flag is Constrained Baseline;
# aiortc offers 42001f and 42e01f and treats both as forwardable baseline.
H264_BASELINE_PROFILE_IDC = 0x42
VP8_START_CODE = b"\x9d\x01\x2a"


def is_keyframe(mime: str, data: bytes) -> bool:
    """True if ``data`` (one complete encoded frame) starts a decodable sequence."""
    mime = mime.lower()
    if mime == "audio/opus":
        return True
    if mime == "video/vp8":
        return len(data) >= 10 and not (data[0] & 0x01) and data[3:6] == VP8_START_CODE
    if mime == "video/h264":
        return _h264_has_idr_or_sps(data)
    return False


def _h264_has_idr_or_sps(data: bytes) -> bool:
    pos = data.find(b"\x00\x00\x01")
    while pos != -1 and pos + 3 < len(data):
        nal_type = data[pos + 3] & 0x1F
        if nal_type in (5, 7):
            return True
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return False


def is_forwardable(codec: RTCRtpCodecParameters | RTCRtpCodecCapability) -> bool:
    mime = codec.mimeType.lower()
    if mime not in FORWARDABLE:
        return False
    if mime == "video/h264":
        params = codec.parameters
        if str(params.get("packetization-mode", "0")) != "1":
            return False
        plid = str(params.get("profile-level-id", "42e01f"))
        try:
            return int(plid[:2], 16) == H264_BASELINE_PROFILE_IDC
        except ValueError:
            return False
    return True


def capability_for(codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """The capability list to pass to ``setCodecPreferences`` so a consumer's
    sender negotiates the producer's codec (same H.264 profile and packetization
    mode), plus RTX for video so NACKed packets are resent on their own SSRC.

    Raises ``Unsupported`` if aiortc cannot send that codec.
    """
    kind = codec.mimeType.split("/")[0].lower()
    caps = RTCRtpSender.getCapabilities(kind).codecs
    mime = codec.mimeType.lower()
    chosen: RTCRtpCodecCapability | None = None
    # H.264: the exact profile-level-id first, else the same profile at aiortc's level
    # (a browser may publish 42e034; level only bounds the decoder, the bitstream is the same)
    for prefix_len in (6, 4):
        for cap in caps:
            if cap.mimeType.lower() != mime:
                continue
            if mime == "video/h264":
                want = str(codec.parameters.get("profile-level-id", "42e01f")).lower()
                have = str(cap.parameters.get("profile-level-id", "")).lower()
                if have[:prefix_len] != want[:prefix_len]:
                    continue
                if str(cap.parameters.get("packetization-mode", "0")) != str(
                    codec.parameters.get("packetization-mode", "0")
                ):
                    continue
            chosen = cap
            break
        if chosen is not None:
            break
    if chosen is None:
        raise Unsupported(f"cannot forward {codec.mimeType} {dict(codec.parameters)}")
    result = [chosen]
    if kind == "video":
        result += [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return result
