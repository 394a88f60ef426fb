"""Fails loudly if the aiortc internals media/passthrough.py hooks have moved."""

from __future__ import annotations

import inspect

import aiortc
import pytest
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

from media.passthrough import AIORTC_VERSION, SEAMS, seam_signature


def test_aiortc_version_is_the_pinned_one():
    assert aiortc.__version__.startswith(AIORTC_VERSION + ".")


@pytest.mark.parametrize("name", sorted(SEAMS))
def test_hooked_method_exists_with_expected_signature(name):
    cls, attr, params = SEAMS[name]
    assert hasattr(cls, attr), f"aiortc moved {name}"
    assert seam_signature(cls, attr) == params, f"aiortc changed the signature of {name}"


def test_receiver_hands_frames_to_decoder_queue_on_the_loop():
    src = inspect.getsource(RTCRtpReceiver)
    # the private state _receive_without_decoder fills in
    for attr in ("__codecs", "__rtx_ssrc", "__decoder_queue", "__decoder_thread",
                 "__jitter_buffer", "__rtcp_task", "__started", "__timestamp_mapper"):
        assert f"self.{attr}" in src, attr
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "if encoded_frame is not None and self.__decoder_thread" in handle
    assert "self.__decoder_queue.put((codec, encoded_frame))" in handle
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "decoder_worker" in receive and "_register_rtp_receiver" in receive
    stop = inspect.getsource(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)
    assert "self.__decoder_queue.put(None)" in stop and ".join()" in stop


def test_sender_packs_packets_with_a_preset_encoder():
    nxt = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "if self.__encoder is None" in nxt
    assert "self.__encoder.pack(data)" in nxt
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in rtcp
    src = inspect.getsource(RTCRtpSender)
    for attr in ("__encoder", "__rtt", "__packet_count"):
        assert f"self.{attr}" in src, attr
