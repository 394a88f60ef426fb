from __future__ import annotations

import asyncio

import av

from media.keyframes import KeyframeCache, KeyframeRequester


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_keyframe_requests_are_throttled_to_one_per_interval():
    sent: list[float] = []
    clock = FakeClock()
    req = KeyframeRequester(lambda: sent.append(clock.now) or True, 1.0, clock=clock)
    assert req.request() is True
    for _ in range(20):  # a storm from 20 consumers
        clock.now += 0.01
        assert req.request() is False
    assert len(sent) == 1
    clock.now += 1.0
    assert req.request() is True
    assert len(sent) == 2
    assert req.requested == 22 and req.sent == 2
    req.close()


async def test_a_throttled_request_is_sent_when_the_window_ends():
    sent: list[int] = []
    req = KeyframeRequester(lambda: sent.append(1) or True, 0.05)
    req.request()
    req.request()
    req.request()
    assert len(sent) == 1
    await asyncio.sleep(0.1)
    assert len(sent) == 2  # coalesced into one
    req.close()


async def test_close_cancels_a_pending_request():
    sent: list[int] = []
    req = KeyframeRequester(lambda: sent.append(1) or True, 0.05)
    req.request()
    req.request()
    req.close()
    await asyncio.sleep(0.1)
    assert len(sent) == 1


def test_cache_keeps_last_keyframe_and_following_deltas():
    cache = KeyframeCache(max_frames=4)
    pk = [av.Packet(bytes([i])) for i in range(8)]
    cache.add(pk[0], False)
    assert len(cache) == 0  # no keyframe yet: deltas alone are useless
    cache.add(pk[1], True)
    cache.add(pk[2], False)
    assert list(cache) == [pk[1], pk[2]]
    cache.add(pk[3], True)
    assert list(cache) == [pk[3]]
    for p in pk[4:7]:
        cache.add(p, False)
    assert len(cache) == 4
    cache.add(pk[7], False)  # GOP longer than the bound: drop it all
    assert len(cache) == 0
