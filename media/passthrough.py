"""The only module that touches aiortc internals (pinned: aiortc 1.16.x).

Why: aiortc's receive path hands every complete encoded frame to a decoder
thread, and its send path encodes every ``av.Frame``. A forwarding SFU wants
neither. This module taps both seams so encoded frames stay encoded:

Receive side, per ``RTCRtpReceiver`` (aiortc/rtcrtpreceiver.py, 1.16):
- ``RTCRtpReceiver.receive(parameters)`` normally starts the thread running
  ``decoder_worker``. We replace ``receive`` on the *instance* with
  ``_receive_without_decoder``, which does the same bookkeeping (private
  ``__codecs``, ``__rtx_ssrc``, ``transport._register_rtp_receiver``,
  ``_run_rtcp`` task, ``__started``) but starts no thread and no decoder.
- ``RTCRtpReceiver._handle_rtp_packet`` (untouched, runs on the event loop)
  feeds its ``JitterBuffer`` and, if ``self.__decoder_thread`` is truthy, puts
  ``(codec, JitterFrame)`` on ``self.__decoder_queue`` after rebasing the RTP
  timestamp with its ``TimestampMapper``. We set ``__decoder_thread`` to a
  sentinel and ``__decoder_queue`` to a ``_FrameSink`` whose ``put`` hands the
  frame to the producer synchronously, on the loop: no thread hop, no decode.
- ``__stop_decoder`` (on BYE, disconnect, stop) puts ``None`` and joins the
  "thread": our sink reports end of stream, the sentinel's ``join`` is a no-op.
- The receiver's ``__jitter_buffer`` (audio ``JitterBuffer(capacity=16,
  prefetch=4)``, video ``JitterBuffer(capacity=512, is_video=True)``) is
  replaced by a ``media.framing.MarkerJitterBuffer`` of the same capacity:
  no prefetch (it only helps a decoder and costs 80 ms), and a frame leaves at
  its RTP marker bit (video) or at once (Opus) instead of when the next frame
  begins (one frame interval of added latency otherwise).
- ``RTCRtpReceiver._send_rtcp_pli(media_ssrc)`` sends a PLI to the publisher.

Send side, per ``RTCRtpSender`` (aiortc/rtcrtpsender.py, 1.16):
- ``_next_encoded_frame`` awaits ``track.recv()``; for a non-``av.Frame`` it
  calls ``self.__encoder.pack(packet)``, creating the encoder with
  ``get_encoder`` only if ``__encoder`` is None. We preset ``__encoder`` to a
  ``Packer`` (no codec context, never encodes) that reuses aiortc's
  packetizers ``Vp8Encoder._packetize`` (classmethod) and
  ``H264Encoder._split_bitstream`` / ``H264Encoder._packetize``.
- ``_send_keyframe()`` is what an incoming PLI/FIR calls (it only sets a flag
  for an encoder); we replace it on the instance to forward the request.
- ``_handle_rtcp_packet(packet)`` is wrapped to observe receiver reports
  (loss, jitter) and NACKs for layer decisions; ``__rtt`` is read for stats.

``tests/unit/media/test_passthrough_seams.py`` asserts all of these exist with
the expected signatures and fails loudly when aiortc moves them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiortc
import av
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
)

from media.framing import MarkerJitterBuffer

logger = logging.getLogger("tongbu.media.passthrough")

AIORTC_VERSION = "1.16"
if not aiortc.__version__.startswith(AIORTC_VERSION + "."):  # pragma: no cover
    logger.warning(
        "media.passthrough was written against aiortc %s.x, running %s: run "
        "tests/unit/media/test_passthrough_seams.py",
        AIORTC_VERSION,
        aiortc.__version__,
    )

# Name-mangled private attributes we rely on (see module docstring).
_R = "_RTCRtpReceiver__"
_S = "_RTCRtpSender__"


class FrameHandler(Protocol):
    def __call__(self, codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None: ...


class _NoThread:
    """Stands in for the decoder thread: truthy, and ``join`` returns at once."""

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False


class _FrameSink:
    """Replaces the receiver's ``queue.Queue`` to the decoder thread.

    ``put`` is called by ``_handle_rtp_packet`` on the event loop with
    ``(codec, JitterFrame)``, or with ``None`` when the receiver stops.
    """

    def __init__(self, on_frame: FrameHandler | None, on_end: Callable[[], None] | None) -> None:
        self.on_frame = on_frame
        self.on_end = on_end

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            on_end, self.on_frame, self.on_end = self.on_end, None, None
            if on_end is not None:
                on_end()
            return
        if self.on_frame is not None:
            codec, frame = item
            self.on_frame(codec, frame.data, frame.timestamp)

    def detach(self) -> None:
        self.on_frame = None
        self.on_end = None


class ReceiverTap:
    """Taps one ``RTCRtpReceiver``: encoded frames out, PLIs in."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self.receiver = receiver
        self.media_ssrc: int | None = None
        self._sink = _FrameSink(None, None)
        self._tasks: set[asyncio.Task[None]] = set()
        kind = receiver.track.kind if receiver.track is not None else None
        if kind == "audio":
            buffer = MarkerJitterBuffer(16, is_video=False, single_packet_frames=True)
        else:
            buffer = MarkerJitterBuffer(512, is_video=True)
        setattr(receiver, _R + "jitter_buffer", buffer)
        receiver.receive = self._receive_without_decoder  # type: ignore[method-assign]

    async def _receive_without_decoder(self, parameters: RTCRtpReceiveParameters) -> None:
        """``RTCRtpReceiver.receive`` of aiortc 1.16 minus the decoder thread."""
        r = self.receiver
        if getattr(r, _R + "started"):
            return
        codecs: dict[int, RTCRtpCodecParameters] = getattr(r, _R + "codecs")
        rtx_ssrc: dict[int, int] = getattr(r, _R + "rtx_ssrc")
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
            if self.media_ssrc is None and encoding.ssrc:
                self.media_ssrc = encoding.ssrc
        setattr(r, _R + "decoder_queue", self._sink)
        setattr(r, _R + "decoder_thread", _NoThread())
        r.transport._register_rtp_receiver(r, parameters)
        setattr(r, _R + "rtcp_task", asyncio.ensure_future(r._run_rtcp()))
        setattr(r, _R + "started", True)

    def bind(self, on_frame: FrameHandler, on_end: Callable[[], None]) -> None:
        """Where complete frames go (the producer), and who hears the end of stream."""
        self._sink.on_frame = on_frame
        self._sink.on_end = on_end

    def send_pli(self) -> bool:
        """Ask the publisher for a keyframe (RTCP PLI). False if not connected yet."""
        ssrc = self.media_ssrc
        if ssrc is None:
            sources = self.receiver.getSynchronizationSources()
            if not sources:
                return False
            ssrc = sources[0].source
        task = asyncio.ensure_future(self.receiver._send_rtcp_pli(ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def detach(self) -> None:
        self._sink.detach()
        for task in self._tasks:
            task.cancel()


class PackTimestamp(Protocol):
    """Where the packer reads the per-consumer RTP timestamp of the packet it packs."""

    out_pts: int


class Packer:
    """Stands in for aiortc's encoder on a consumer's sender: it only packetizes.

    The timestamp comes from the consumer (its rebased, monotonic pts), not
    from ``packet.pts``: the same ``av.Packet`` object is shared by every
    consumer of a producer and must not be mutated per consumer.
    """

    def __init__(self, mime: str, clock: PackTimestamp) -> None:
        self.mime = mime.lower()
        self._clock = clock
        self.picture_id = 0
        self.target_bitrate = 0  # RTCRtpSender sets it on REMB; nothing to adapt.

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        data = bytes(packet)
        if self.mime == "video/vp8":
            payloads = Vp8Encoder._packetize(data, self.picture_id)
            self.picture_id = (self.picture_id + 1) % (1 << 15)
        elif self.mime == "video/h264":
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
        else:
            payloads = [data]
        return payloads, self._clock.out_pts

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("a forwarding consumer never encodes (got a decoded frame)")


@dataclass
class ReceiverReport:
    """What a consumer's remote peer reported in one RTCP RR for our SSRC."""

    fraction_lost: float  # 0..1 since the previous report
    packets_lost: int
    jitter: int
    rtt: float | None


class SenderTap:
    """Taps one consumer ``RTCRtpSender``: packer in, PLI/FIR, RR and NACK out."""

    def __init__(
        self,
        sender: RTCRtpSender,
        packer: Packer,
        *,
        on_keyframe_request: Callable[[], None],
        on_report: Callable[[ReceiverReport], None],
        on_nack: Callable[[int], None],
    ) -> None:
        self.sender = sender
        setattr(sender, _S + "encoder", packer)
        sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
        original: Callable[[AnyRtcpPacket], Awaitable[None]] = sender._handle_rtcp_packet

        async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
            await original(packet)
            try:
                if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                    for report in packet.reports:
                        if report.ssrc == sender._ssrc:
                            on_report(
                                ReceiverReport(
                                    fraction_lost=report.fraction_lost / 256.0,
                                    packets_lost=report.packets_lost,
                                    jitter=report.jitter,
                                    rtt=self.rtt,
                                )
                            )
                elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                    on_nack(len(packet.lost))
            except Exception:
                logger.exception("consumer RTCP observer failed")

        sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]

    @property
    def rtt(self) -> float | None:
        value = getattr(self.sender, _S + "rtt", None)
        return float(value) if value is not None else None

    @property
    def packets_sent(self) -> int:
        return int(getattr(self.sender, _S + "packet_count", 0))


def set_answer_codec(transceiver: Any, codec: RTCRtpCodecParameters) -> None:
    """Narrow a publisher transceiver's negotiated codecs to ``codec`` (+ its RTX).

    ``RTCPeerConnection.setRemoteDescription`` stores the common codecs in the
    private ``transceiver._codecs``; ``createAnswer`` lists exactly those. One
    codec in the answer means the publisher cannot switch codecs under us.
    """
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    keep = [codec] + [
        c
        for c in codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == codec.payloadType
    ]
    transceiver._codecs = keep


def negotiated_codecs(transceiver: Any) -> list[RTCRtpCodecParameters]:
    """The codecs ``setRemoteDescription`` agreed on for a transceiver (private ``_codecs``)."""
    return list(transceiver._codecs)


SEAMS: dict[str, tuple[type, str, list[str] | None]] = {
    # name: (class, attribute, expected positional parameter names or None if not callable)
    "receiver.receive": (RTCRtpReceiver, "receive", ["self", "parameters"]),
    "receiver._handle_rtp_packet": (
        RTCRtpReceiver,
        "_handle_rtp_packet",
        ["self", "packet", "arrival_time_ms"],
    ),
    "receiver._run_rtcp": (RTCRtpReceiver, "_run_rtcp", ["self"]),
    "receiver._send_rtcp_pli": (RTCRtpReceiver, "_send_rtcp_pli", ["self", "media_ssrc"]),
    "sender._next_encoded_frame": (RTCRtpSender, "_next_encoded_frame", ["self", "codec"]),
    "sender._send_keyframe": (RTCRtpSender, "_send_keyframe", ["self"]),
    "sender._handle_rtcp_packet": (RTCRtpSender, "_handle_rtcp_packet", ["self", "packet"]),
    "vp8._packetize": (Vp8Encoder, "_packetize", ["buffer", "picture_id"]),
    "h264._split_bitstream": (H264Encoder, "_split_bitstream", ["buf"]),
    "h264._packetize": (H264Encoder, "_packetize", ["packages"]),
}


def seam_signature(cls: type, name: str) -> list[str]:
    """Parameter names of ``cls.name`` (bound classmethods drop ``cls``)."""
    return list(inspect.signature(getattr(cls, name)).parameters)
