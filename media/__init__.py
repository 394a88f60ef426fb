"""The SFU: Worker > Room > Transport > Producer / Consumer.

Forwards encoded frames (no decoding, no encoding); no HTTP code.
"""

from media.consumer import Consumer
from media.producer import Producer, TrackInfo
from media.room import Room
from media.stats import MediaCollector, WorkerStats
from media.transport import Transport
from media.worker import Worker

__all__ = [
    "Consumer",
    "MediaCollector",
    "Producer",
    "Room",
    "TrackInfo",
    "Transport",
    "Worker",
    "WorkerStats",
]
