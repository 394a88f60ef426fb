"""The floor state machine: one holder, an ordered hand-raise queue."""

from __future__ import annotations

import pytest

from server.errors import InvalidState, NotFound
from signaling.floor import Floor


def test_request_queues_in_order_and_is_idempotent() -> None:
    floor = Floor()
    assert floor.request("a").changed
    assert floor.request("b").changed
    assert not floor.request("a").changed
    assert floor.queue == ["a", "b"]


def test_grant_moves_the_grantee_out_of_the_queue_and_replaces_the_holder() -> None:
    floor = Floor()
    floor.request("a")
    floor.request("b")
    first = floor.grant("a")
    assert (first.previous, first.holder, first.queue) == (None, "a", ("b",))
    second = floor.grant("b")
    assert (second.previous, second.holder, second.queue) == ("a", "b", ())


def test_holder_cannot_queue_for_the_floor() -> None:
    floor = Floor()
    floor.grant("a")
    with pytest.raises(InvalidState):
        floor.request("a")


def test_revoke_checks_the_holder() -> None:
    floor = Floor()
    with pytest.raises(InvalidState):
        floor.revoke()
    floor.grant("a")
    with pytest.raises(NotFound):
        floor.revoke("b")
    change = floor.revoke("a")
    assert change.changed and change.previous == "a" and floor.holder is None


def test_remove_clears_holder_and_queue() -> None:
    floor = Floor()
    floor.request("b")
    floor.grant("a")
    assert floor.remove("a").holder is None
    assert floor.remove("b").queue == ()
    assert not floor.remove("zzz").changed


def test_cancel_lowers_the_hand() -> None:
    floor = Floor()
    floor.request("a")
    assert floor.cancel("a").changed and floor.queue == []
    assert not floor.cancel("a").changed
