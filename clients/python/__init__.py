"""Python client of the Tongbu signaling protocol (bots, tests, recorder, benchmark)."""

from clients.python.client import (
    ConnectionClosed,
    PublishTrack,
    ReceivedFrame,
    SignalingError,
    TongbuClient,
)

__all__ = ["ConnectionClosed", "PublishTrack", "ReceivedFrame", "SignalingError", "TongbuClient"]
