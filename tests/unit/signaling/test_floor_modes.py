"""The floor as a set of speakers: chair and free modes, limits, time limits, mute-all;
and the room policy per room kind (lesson, research, meeting)."""

from __future__ import annotations

import pytest

from server.errors import InvalidState, NotFound
from signaling.floor import Floor, FloorFull, FloorMode
from signaling.policy import policy_for


def test_chair_grant_beyond_the_limit_takes_the_floor_from_the_oldest_speaker() -> None:
    floor = Floor(max_speakers=2)
    floor.grant("a")
    floor.grant("b")
    change = floor.grant("c")
    assert floor.speakers == ["b", "c"] and floor.holder == "b"
    assert change.added == ("c",) and change.removed == ("a",)
    assert (change.previous, change.holder) == ("a", "b")


def test_chair_requests_queue_in_order_and_never_grant_themselves() -> None:
    floor = Floor(max_speakers=3)
    floor.request("a")
    floor.request("b")
    assert floor.queue == ["a", "b"] and floor.speakers == []


def test_free_mode_takes_the_floor_up_to_n_then_refuses() -> None:
    floor = Floor(mode=FloorMode.FREE, max_speakers=2)
    assert floor.request("a").added == ("a",)
    floor.request("b")
    with pytest.raises(FloorFull) as err:
        floor.request("c")
    assert err.value.code == "limit_reached"
    assert floor.speakers == ["a", "b"] and floor.queue == []
    floor.revoke("a")
    assert floor.request("c").added == ("c",)


def test_free_mode_without_a_limit_takes_everyone() -> None:
    floor = Floor(mode=FloorMode.FREE, max_speakers=None)
    for pid in "abcdefgh":
        floor.request(pid)
    assert len(floor.speakers) == 8


def test_time_limits_expire_only_the_speakers_whose_time_is_up() -> None:
    floor = Floor(max_speakers=3)
    floor.grant("a", seconds=10, now=100.0)
    floor.grant("b", seconds=30, now=100.0)
    floor.grant("c", now=100.0)
    assert floor.next_expiry() == 110.0
    assert not floor.expire(109.9).changed
    change = floor.expire(110.0)
    assert change.removed == ("a",) and floor.speakers == ["b", "c"]
    assert floor.next_expiry() == 130.0
    change = floor.grant("b", now=120.0)  # a grant again without a limit clears it
    assert change.changed and not change.added and floor.next_expiry() is None


def test_free_mode_time_limit_applies_to_a_taken_floor() -> None:
    floor = Floor(mode=FloorMode.FREE, max_speakers=None, free_time_limit=20)
    floor.request("a", now=5.0)
    assert floor.expires_at == {"a": 25.0}


def test_revoke_without_a_target_clears_every_speaker() -> None:
    floor = Floor(max_speakers=None)
    with pytest.raises(InvalidState):
        floor.revoke()
    floor.grant("a", seconds=10, now=0)
    floor.grant("b")
    with pytest.raises(NotFound):
        floor.revoke("z")
    change = floor.revoke()
    assert set(change.removed) == {"a", "b"} and floor.speakers == [] and floor.expires_at == {}


def test_lowering_the_limit_drops_the_newest_and_going_free_clears_the_queue() -> None:
    floor = Floor(max_speakers=None)
    for pid in "abc":
        floor.grant(pid)
    floor.request("d")
    change = floor.set_mode(FloorMode.FREE, 1)
    assert floor.speakers == ["a"] and change.removed == ("b", "c")
    assert floor.queue == [] and floor.mode is FloorMode.FREE
    with pytest.raises(InvalidState):
        floor.set_mode(FloorMode.CHAIR, 0)


def test_mute_all_is_a_change_of_its_own() -> None:
    floor = Floor()
    assert floor.set_mute_all(True).changed
    assert not floor.set_mute_all(True).changed
    assert floor.mute_all


def test_remove_drops_a_speaker_with_its_time_limit() -> None:
    floor = Floor(max_speakers=2)
    floor.grant("a", seconds=5, now=0)
    floor.grant("b")
    change = floor.remove("a")
    assert change.removed == ("a",) and floor.expires_at == {} and floor.holder == "b"


def test_lesson_policy_classrooms_see_the_teacher_and_speakers_only() -> None:
    lesson = policy_for("lesson", chair_max_speakers=2)
    assert (lesson.mode, lesson.max_speakers) == (FloorMode.CHAIR, 2)

    def wants(**kw: object) -> bool:
        args = {"subscriber_sees_all": False, "owner_is_moderator": False,
                "owner_speaks": False, "source": "camera"}
        return lesson.wants(**{**args, **kw})  # type: ignore[arg-type]

    assert wants(owner_is_moderator=True) and wants(owner_speaks=True)
    assert wants(subscriber_sees_all=True)
    assert not wants() and not wants(source="screen")
    assert not lesson.live(moderator=False, speaks=False)
    assert lesson.live(moderator=False, speaks=True)


def test_research_policy_everyone_consumes_everyone_and_is_live() -> None:
    research = policy_for("research")
    assert (research.mode, research.max_speakers) == (FloorMode.FREE, None)
    assert research.wants(
        subscriber_sees_all=False, owner_is_moderator=False, owner_speaks=False, source="camera"
    )
    assert research.live(moderator=False, speaks=False)


def test_meeting_policy_shares_screens_and_gates_the_rest() -> None:
    meeting = policy_for("meeting")
    assert meeting.mode is FloorMode.CHAIR
    base = {"subscriber_sees_all": False, "owner_is_moderator": False, "owner_speaks": False}
    assert meeting.wants(**base, source="screen")  # type: ignore[arg-type]
    assert not meeting.wants(**base, source="camera")  # type: ignore[arg-type]
    assert not meeting.live(moderator=False, speaks=False)
    assert policy_for(None).kind == "lesson" and policy_for("bogus").kind == "lesson"
