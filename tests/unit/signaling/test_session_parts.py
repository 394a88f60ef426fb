"""Pieces of the session and room that need no socket: rate limiter, renegotiator, codes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.errors import BadRequest, InvalidState, NotFound, PermissionDenied, TokenExpired
from signaling.protocol import ErrorCode, Offer, _Message
from signaling.rooms import Renegotiator
from signaling.session import RateLimiter, error_code


def test_domain_errors_map_to_wire_codes() -> None:
    assert error_code(TokenExpired("x")) is ErrorCode.TOKEN_EXPIRED
    assert error_code(PermissionDenied("x")) is ErrorCode.PERMISSION_DENIED
    assert error_code(NotFound("x")) is ErrorCode.NOT_FOUND
    assert error_code(InvalidState("x")) is ErrorCode.INVALID_STATE
    assert error_code(BadRequest("x")) is ErrorCode.BAD_SDP


def test_rate_limiter_allows_a_burst_then_refuses() -> None:
    limiter = RateLimiter(5)
    assert sum(limiter.allow() for _ in range(20)) == 10  # two seconds' worth
    limiter.stamp -= 1.0  # a second later: five more
    assert sum(limiter.allow() for _ in range(20)) == 5


class FakeTransport:
    """Records offers/answers; its answers can be made to fail."""

    def __init__(self) -> None:
        self.closed = False
        self.offers = 0
        self.answers: list[str] = []

    async def create_offer(self) -> str:
        self.offers += 1
        await asyncio.sleep(0)
        return f"offer-{self.offers}"

    async def apply_answer(self, sdp: str) -> None:
        if sdp == "garbage":
            raise BadRequest("unparsable SDP answer")
        self.answers.append(sdp)


def make(timeout: float = 5.0) -> tuple[Renegotiator, FakeTransport, list[_Message], list[str]]:
    transport = FakeTransport()
    sent: list[_Message] = []
    events: list[str] = []
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        return task

    negotiator = Renegotiator(
        transport, sent.append, list, spawn, lambda: events.append("timeout"), timeout
    )
    return negotiator, transport, sent, events


async def test_renegotiations_never_overlap_and_coalesce() -> None:
    negotiator, transport, sent, _ = make()
    negotiator.request()
    negotiator.request()
    await asyncio.sleep(0.01)
    negotiator.request()  # while the first offer waits: folded into one more round
    negotiator.request()
    assert [m.sdp for m in sent if isinstance(m, Offer)] == ["offer-1"]
    await negotiator.on_answer("answer-1")
    await asyncio.sleep(0.01)
    assert [m.sdp for m in sent if isinstance(m, Offer)] == ["offer-1", "offer-2"]
    await negotiator.on_answer("answer-2")
    await negotiator.wait_idle()
    assert transport.answers == ["answer-1", "answer-2"] and negotiator.rounds == 2


async def test_answer_without_offer_is_invalid_state() -> None:
    negotiator, _, _, _ = make()
    with pytest.raises(InvalidState):
        await negotiator.on_answer("answer")


async def test_bad_answer_keeps_the_offer_outstanding() -> None:
    negotiator, transport, _, _ = make()
    negotiator.request()
    await asyncio.sleep(0.01)
    with pytest.raises(BadRequest):
        await negotiator.on_answer("garbage")
    assert negotiator.busy
    await negotiator.on_answer("good")
    await negotiator.wait_idle()
    assert transport.answers == ["good"]


async def test_missing_answer_times_out() -> None:
    negotiator, _, _, events = make(timeout=0.05)
    negotiator.request()
    await asyncio.sleep(0.2)
    assert events == ["timeout"] and not negotiator.busy
