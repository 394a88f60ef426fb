"""Room membership, permissions, auto-subscribe and floor gating on top of the media room.

This is LiveKit's `rtc` layer: it knows participants, grants and the floor, and
tells the SFU what to do through the calls listed in docs/media-api.md (never
packets). A `Room` here wraps one media `Room`; the `RoomHub` owns all of them
and the media `Worker`, creates a room on the first join and closes it when the
last participant leaves, so nothing outlives its owner.

Who receives what (the policy, kept in `Room._wants`):
- moderators (the teacher) and hidden participants (evaluator, observer,
  recorder) consume every producer, so the teacher sees every classroom tile
  and the recorder records everything;
- the other participants (receiving classrooms) consume the moderators'
  producers and those of the floor holder only: 50 classrooms each consuming
  49 others would put ~200 m-sections in every classroom's peer connection.
Independently, the floor gates *sound* (`_live`, `_apply_gate`): a classroom's
audio reaches the room only while it holds the floor (the teacher's always);
its video always flows to those who consume it (the teacher's tiles). Hidden
listeners (evaluators, the recorder) also hear a classroom without the floor
(per-consumer pause), so recordings keep every classroom's voice; a muted
microphone (`mute`) pauses the producer itself and is silent for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.errors import InvalidState, NotFound, PermissionDenied
from server.settings import Settings
from server.tokens import RoomClaims
from signaling import features as room_features
from signaling.floor import Floor, FloorChange
from signaling.observers import EventBus, RoomEvent, lesson_id_of
from signaling.policy import RoomPolicy, policy_for
from signaling.protocol import (
    CloseReason,
    ConsumerInfo,
    FloorChanged,
    FloorState,
    Kind,
    Layer,
    Muted,
    Offer,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    ProducerAdded,
    ProducerInfo,
    ProducerRemoved,
    TrackSpec,
    _Message,
)

logger = logging.getLogger("tongbu.signaling")


class Peer(Protocol):
    """What a room needs from a connection: queue a message, end the session."""

    def send(self, message: _Message) -> None: ...

    def close(self, reason: CloseReason, message: str = "") -> None: ...


def _gate(consumer: Any, on: bool) -> None:
    if on and consumer.paused:
        consumer.resume()
    elif not on and not consumer.paused:
        consumer.pause()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Renegotiator:
    """Serializes the server's offers on one recv transport.

    Why: a second `create_offer` while the first waits for its answer would put
    the peer connection in an invalid state. Requests that arrive meanwhile set
    a dirty flag and are folded into one more round once the answer is in.
    """

    def __init__(
        self,
        transport: Any,
        send: Callable[[_Message], None],
        consumers: Callable[[], list[ConsumerInfo]],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        on_timeout: Callable[[], None],
        answer_timeout: float,
    ) -> None:
        self._transport = transport
        self._send = send
        self._consumers = consumers
        self._spawn = spawn
        self._on_timeout = on_timeout
        self._answer_timeout = answer_timeout
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[None] | None = None
        self._last_offer: str | None = None
        self.rounds = 0  # completed offer/answer rounds, for tests and stats

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def request(self) -> None:
        self._dirty = True
        if not self.busy:
            self._task = self._spawn(self._run())

    async def _run(self) -> None:
        while self._dirty and not self._transport.closed:
            self._dirty = False
            try:
                sdp = await self._transport.create_offer()
            except InvalidState:
                return  # the transport closed under us (participant leaving): nothing to do
            loop = asyncio.get_running_loop()
            self._answer = loop.create_future()
            self._last_offer = sdp
            self._send(Offer(sdp=sdp, consumers=consumer_infos(sdp, self._consumers())))
            try:
                await asyncio.wait_for(asyncio.shield(self._answer), self._answer_timeout)
            except TimeoutError:
                logger.warning("no answer to the recv offer within %.1fs", self._answer_timeout)
                self._answer = None
                self._on_timeout()
                return
            self._answer = None
            self.rounds += 1

    def resend(self) -> None:
        """Send the offer still waiting for its answer again (it went to a dropped connection)."""
        if self._answer is None or self._answer.done() or self._transport.closed:
            return
        sdp = self._last_offer
        if sdp is not None:
            self._send(Offer(sdp=sdp, consumers=consumer_infos(sdp, self._consumers())))

    async def on_answer(self, sdp: str) -> None:
        """Apply the client's answer; a bad one raises and leaves the offer outstanding."""
        answer = self._answer
        if answer is None or answer.done():
            raise InvalidState("no offer is waiting for an answer")
        await self._transport.apply_answer(sdp)
        if not answer.done():
            answer.set_result(None)

    async def wait_idle(self) -> None:
        while self.busy:
            assert self._task is not None
            await asyncio.shield(self._task)


def consumer_infos(sdp: str, consumers: list[Any]) -> list[ConsumerInfo]:
    """Tell the client which offer m-section carries which producer.

    The media consumer knows its transceiver's `mid` once the offer is made;
    the msid track id is given too, for clients that key tracks by id.
    """
    infos = []
    for consumer in consumers:
        track = getattr(consumer, "track", None)
        infos.append(
            ConsumerInfo(
                id=consumer.id,
                producer_id=consumer.producer_id,
                kind=consumer.kind,
                mid=getattr(consumer, "mid", None),
                track_id=getattr(consumer, "track_id", None) or getattr(track, "id", None),
                layer=getattr(consumer, "layer", None),
            )
        )
    return infos


@dataclass
class Subscription:
    """One consumer of a producer group for one participant."""

    consumer: Any
    producer_id: str
    explicit: bool  # asked for with `subscribe`; floor changes never drop it


@dataclass(eq=False)
class Participant:
    id: str
    claims: RoomClaims
    peer: Peer
    auto_subscribe: bool = True
    send_transport: Any = None
    recv_transport: Any = None
    negotiator: Renegotiator | None = None
    producers: dict[str, Any] = field(default_factory=dict)
    # Keyed by producer group: one consumer per source, whatever the layer.
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    muted: set[Kind] = field(default_factory=set)
    subscribe_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Connection lost, place kept for the resume grace period (signaling/resume.py).
    reconnecting: bool = False

    @property
    def hidden(self) -> bool:
        return self.claims.grants.hidden

    @property
    def moderator(self) -> bool:
        return self.claims.grants.moderate

    def consumer_list(self) -> list[Any]:
        return [s.consumer for s in self.subscriptions.values()]


class Room:
    """Signaling state of one live lesson, wrapping one media room."""

    def __init__(self, hub: RoomHub, media_room: Any) -> None:
        self.hub = hub
        self.id: str = media_room.id
        self.media = media_room
        self.participants: dict[str, Participant] = {}
        self.floor = Floor()
        self.policy: RoomPolicy = policy_for("lesson")
        self._floor_timer: asyncio.TimerHandle | None = None
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._owners: dict[str, str] = {}  # producer id -> participant id, until announced gone
        self._infos: dict[str, ProducerInfo] = {}
        self.features: dict[str, room_features.Feature] = {
            cls.name: cls(self) for cls in room_features.FEATURES
        }
        media_room.on("producerclose", self._on_media_producer_close)
        media_room.on("close", self._on_media_room_close)
        self.emit("room.opened")

    # ------------------------------------------------------------ helpers

    def configure(self, kind: str | None) -> None:
        """Apply the room kind's policy (signaling.policy) before anyone is in."""
        limits = self.hub.settings.interaction
        self.policy = policy_for(kind, chair_max_speakers=limits.chair_max_speakers)
        self.floor = Floor(mode=self.policy.mode, max_speakers=self.policy.max_speakers)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background step owned by the room; cancelled when the room closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("room %s task failed", self.id, exc_info=task.exception())

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        return set(self._tasks)

    @property
    def lesson_id(self) -> int | None:
        return lesson_id_of(self.id)

    def emit(
        self, name: str, p: Participant | None = None, data: dict[str, Any] | None = None,
        *, log: bool = True,
    ) -> None:
        """Tell the hub's observers (lesson log, webhooks, statistics) what happened."""
        self.hub.events.emit(
            RoomEvent(
                name=name,
                room=self.id,
                participant_id=p.id if p else None,
                identity=p.claims.identity if p else None,
                role=p.claims.role.value if p else None,
                data=data or {},
                log=log,
            )
        )

    def visible(self) -> list[Participant]:
        return [p for p in self.participants.values() if not p.hidden]

    def broadcast(self, message: _Message, *, exclude: Participant | None = None) -> None:
        for p in list(self.participants.values()):
            if p is not exclude:
                p.peer.send(message)

    def info(self, p: Participant) -> ParticipantInfo:
        c = p.claims
        return ParticipantInfo(
            id=p.id,
            identity=c.identity,
            name=c.name,
            role=c.role.value,
            can_publish=c.grants.publish,
            hand_raised=p.id in self.floor.queue,
            has_floor=self.floor.is_speaker(p.id),
            muted=sorted(p.muted),
            state="reconnecting" if p.reconnecting else "connected",
        )

    def producer_info(self, producer: Any) -> ProducerInfo:
        return ProducerInfo(
            id=producer.id,
            participant_id=producer.peer_id,
            kind=producer.kind,
            codec=getattr(producer, "codec", ""),
            source=producer.source,
            layer=producer.layer,
            group=producer.group,
            paused=self._paused_for_room(producer),
        )

    def _paused_for_room(self, producer: Any) -> bool:
        """What the room is told: not heard/seen by the room (hidden listeners aside)."""
        owner = self.participants.get(self._owners.get(producer.id, ""))
        if owner is None:
            return bool(producer.paused)
        return not self._live(owner, producer)

    def floor_state(self) -> FloorState:
        f = self.floor
        return FloorState(
            holder=f.holder,
            queue=list(f.queue),
            speakers=list(f.speakers),
            mode=f.mode.value,
            max_speakers=f.max_speakers,
            expires_at=dict(f.expires_at),
            mute_all=f.mute_all,
        )

    def producers(self) -> list[ProducerInfo]:
        return [
            self.producer_info(p) for p in self.media.producers.values() if p.id in self._owners
        ]

    def _get_visible(self, participant_id: str) -> Participant:
        """Hidden participants do not exist for the others: same error as unknown."""
        p = self.participants.get(participant_id)
        if p is None or p.hidden:
            raise NotFound(f"no participant {participant_id}")
        return p

    def _live(self, p: Participant, producer: Any) -> bool:
        if producer.kind in p.muted:
            return False
        if producer.kind == "video":
            # Pictures always flow: only the teacher, hidden participants (evaluators,
            # patrol, the recorder) and the floor's audience consume them (`_wants`), and
            # the teacher needs every classroom's tile. The floor gates *sound*.
            return True
        return self.policy.live(moderator=p.moderator, speaks=self.floor.is_speaker(p.id))

    def _overheard(self, p: Participant, producer: Any) -> bool:
        """Sound of a classroom without the floor: not for the room, but hidden listeners
        (evaluators, the recorder) hear it, so a recording keeps every classroom's voice.
        A muted microphone is silent for everyone."""
        return producer.kind == "audio" and producer.kind not in p.muted and not self._live(
            p, producer
        )

    def _hears(self, sub: Participant, owner: Participant, producer: Any) -> bool:
        return self._live(owner, producer) or (sub.hidden and self._overheard(owner, producer))

    def _apply_gate(self, p: Participant) -> None:
        """Pause or resume a participant's producers, and each consumer of them, after a
        floor or mute change (the producer runs while anyone may receive it)."""
        for producer in p.producers.values():
            running = self._live(p, producer) or self._overheard(p, producer)
            if running and producer.paused:
                producer.resume()
            elif not running and not producer.paused:
                producer.pause()
            for sub in self.participants.values():
                s = sub.subscriptions.get(producer.group)
                if s is not None:
                    _gate(s.consumer, self._hears(sub, p, producer))

    def _wants(self, sub: Participant, owner_id: str, source: str | None = None) -> bool:
        if sub.id == owner_id or not sub.claims.grants.subscribe or not sub.auto_subscribe:
            return False
        if sub.recv_transport is None:
            return False
        owner = self.participants.get(owner_id)
        if owner is None:
            return False
        return self.policy.wants(
            subscriber_sees_all=sub.moderator or sub.hidden,
            owner_is_moderator=owner.moderator,
            owner_speaks=self.floor.is_speaker(owner_id),
            source=source,
        )

    # ------------------------------------------------------------ membership

    def open_recv_transport(self, p: Participant) -> None:
        """The participant's subscribe side: a recv transport and its renegotiator."""
        p.recv_transport = self.media.create_transport(p.id, "recv")
        p.recv_transport.on("connectionstatechange", self._transport_watch(p))
        p.negotiator = Renegotiator(
            p.recv_transport,
            lambda message: p.peer.send(message),  # p.peer changes on resume
            p.consumer_list,
            self.spawn,
            lambda: p.peer.close(CloseReason.PROTOCOL_ERROR, "no answer to the offer"),
            self.hub.settings.signaling.join_timeout,
        )

    async def add(self, p: Participant) -> None:
        """Register a participant; the caller sends `joined`, then calls `start`."""
        if p.claims.grants.subscribe:
            self.open_recv_transport(p)
        self.participants[p.id] = p
        if not p.hidden:
            self.broadcast(ParticipantJoined(participant=self.info(p)), exclude=p)
        self.emit(
            "participant.joined",
            p,
            {
                "hidden": p.hidden,
                "name": p.claims.name,
                "classroom_id": p.claims.classroom_id,
                "user_id": p.claims.user_id,
            },
        )
        for feature in self.features.values():
            await feature.on_join(p)

    def start(self, p: Participant) -> None:
        """After `joined` went out: consume what already exists."""
        producers = [pr for pr in self.media.producers.values() if pr.id in self._owners]
        if producers:
            self.spawn(self._auto_subscribe([p], producers))

    async def remove(self, p: Participant, reason: CloseReason) -> None:
        """The participant left or vanished: close its transports, tell the others."""
        if self.participants.pop(p.id, None) is None:
            return
        change = self.floor.remove(p.id)
        for transport in (p.send_transport, p.recv_transport):
            if transport is not None:
                await transport.close("participant_left")
        for producer_id in list(p.producers):
            self._producer_gone(producer_id)
        p.producers.clear()
        p.subscriptions.clear()
        if not p.hidden:
            self.broadcast(ParticipantLeft(participant_id=p.id, reason=reason))
        self.emit(
            "participant.left",
            p,
            {
                "reason": reason.value,
                "hidden": p.hidden,
                "classroom_id": p.claims.classroom_id,
                "user_id": p.claims.user_id,
            },
        )
        for feature in self.features.values():
            try:
                await feature.on_leave(p)
            except Exception:
                logger.exception("feature %s failed on leave", feature.name)
        if change.changed:
            await self._floor_changed(change, "left")

    def _transport_watch(self, p: Participant) -> Callable[[str], None]:
        def on_state(state: str) -> None:
            if state == "failed" and p.id in self.participants:
                p.peer.close(CloseReason.TRANSPORT_FAILED, "a peer connection failed")

        return on_state

    # ------------------------------------------------------------ publishing

    async def publish(
        self, p: Participant, sdp: str, tracks: list[TrackSpec]
    ) -> tuple[str, list[ProducerInfo]]:
        grants = p.claims.grants
        if not grants.publish:
            raise PermissionDenied("this token has no publish grant")
        if p.hidden:
            raise PermissionDenied("hidden participants cannot publish")
        from media.producer import TrackInfo  # the contract's type; media imports lazily

        if p.send_transport is None:
            p.send_transport = self.media.create_transport(p.id, "send")
            p.send_transport.on("connectionstatechange", self._transport_watch(p))
        before = set(p.send_transport.producers)
        infos = {t.mid: TrackInfo(source=t.source, layer=t.layer) for t in tracks}
        answer: str = await p.send_transport.apply_offer(sdp, infos)
        new = [pr for pid, pr in p.send_transport.producers.items() if pid not in before]
        for producer in new:
            p.producers[producer.id] = producer
            self._owners[producer.id] = p.id
        self._apply_gate(p)
        added = [self.producer_info(pr) for pr in new]
        for info in added:
            self._infos[info.id] = info
            self.broadcast(ProducerAdded(producer=info), exclude=p)
        if new:
            others = [s for s in self.participants.values() if s is not p]
            self.spawn(self._auto_subscribe(others, new))
        return answer, added

    async def unpublish(self, p: Participant, producer_id: str | None) -> None:
        targets = list(p.producers) if producer_id is None else [producer_id]
        for pid in targets:
            producer = p.producers.get(pid)
            if producer is None:
                raise NotFound(f"no producer {pid} of yours")
            await producer.close()
            self._producer_gone(pid)

    def _on_media_producer_close(self, producer: Any) -> None:
        self._producer_gone(producer.id)

    def _producer_gone(self, producer_id: str) -> None:
        """Announce a producer's end once, and drop consumers left with no source."""
        owner_id = self._owners.pop(producer_id, None)
        info = self._infos.pop(producer_id, None)
        if owner_id is None:
            return
        owner = self.participants.get(owner_id)
        if owner is not None:
            owner.producers.pop(producer_id, None)
        self.broadcast(ProducerRemoved(producer_id=producer_id, participant_id=owner_id))
        group = info.group if info else None
        if group is None:
            return
        group_alive = any(
            getattr(pr, "group", None) == group and pr.id in self._owners
            for pr in self.media.producers.values()
        )
        if group_alive:
            return
        for sub in list(self.participants.values()):
            s = sub.subscriptions.pop(group, None)
            if s is not None:
                self.spawn(self._drop_consumer(sub, s))

    async def _drop_consumer(self, sub: Participant, s: Subscription) -> None:
        await s.consumer.close()
        if sub.negotiator is not None and sub.id in self.participants:
            sub.negotiator.request()

    # ------------------------------------------------------------ subscribing

    async def _auto_subscribe(self, subscribers: list[Participant], producers: list[Any]) -> None:
        for sub in subscribers:
            wanted = [pr for pr in producers if self._wants(sub, pr.peer_id, pr.source)]
            if wanted:
                await self._consume(sub, wanted, explicit=False, layer=None)

    async def _consume(
        self, sub: Participant, producers: list[Any], *, explicit: bool, layer: Layer | None
    ) -> list[Any]:
        """Consume each producer's group once, then renegotiate once."""
        consumers = []
        changed = False
        async with sub.subscribe_lock:
            for producer in producers:
                if sub.id not in self.participants or producer.id not in self._owners:
                    continue
                existing = sub.subscriptions.get(producer.group)
                if existing is not None:
                    if layer is not None:
                        existing.consumer.set_preferred_layer(layer)
                    existing.explicit = existing.explicit or explicit
                    consumers.append(existing.consumer)
                    continue
                consumer = await sub.recv_transport.consume(producer, layer=layer)
                owner = self.participants.get(self._owners[producer.id])
                if owner is not None:
                    _gate(consumer, self._hears(sub, owner, producer))
                sub.subscriptions[producer.group] = Subscription(consumer, producer.id, explicit)
                consumers.append(consumer)
                changed = True
        if changed and sub.negotiator is not None:
            sub.negotiator.request()
        return consumers

    def _find_producer(self, producer_id: str) -> Any:
        producer = self.media.producers.get(producer_id)
        if producer is not None and producer_id in self._owners:
            return producer
        for other_id, other in self.hub.worker.rooms.items():
            if other_id != self.id and producer_id in other.producers:
                raise PermissionDenied("that producer belongs to another room")
        raise NotFound(f"no producer {producer_id} in this room")

    async def subscribe(self, p: Participant, producer_id: str, layer: Layer | None) -> Any:
        if not p.claims.grants.subscribe or p.recv_transport is None:
            raise PermissionDenied("this token has no subscribe grant")
        producer = self._find_producer(producer_id)
        if producer.peer_id == p.id:
            raise InvalidState("cannot subscribe to your own producer")
        consumers = await self._consume(p, [producer], explicit=True, layer=layer)
        if not consumers:
            raise NotFound(f"producer {producer_id} is gone")
        return consumers[0]

    async def unsubscribe(self, p: Participant, producer_id: str) -> None:
        info = self._infos.get(producer_id)
        s = p.subscriptions.pop(info.group, None) if info else None
        if s is None:
            raise NotFound(f"not subscribed to {producer_id}")
        await self._drop_consumer(p, s)

    def set_layer(
        self, p: Participant, consumer_id: str | None, producer_id: str | None, layer: Layer
    ) -> None:
        for group, s in p.subscriptions.items():
            info = self._infos.get(producer_id) if producer_id else None
            if s.consumer.id == consumer_id or (info is not None and info.group == group):
                s.consumer.set_preferred_layer(layer)
                return
        raise NotFound("no such consumer")

    # ------------------------------------------------------------ floor and mute

    async def request_floor(self, p: Participant, cancel: bool) -> None:
        if p.hidden or not p.claims.grants.publish:
            raise PermissionDenied("only a publishing participant may ask for the floor")
        if p.moderator:
            raise InvalidState("a moderator is always live")
        if cancel:
            change = self.floor.cancel(p.id)
        else:
            change = self.floor.request(p.id, now=time.time())
        if change.changed:
            await self._floor_changed(change, "cancelled" if cancel else "requested")

    async def grant_floor(
        self, p: Participant, target_id: str, seconds: int | None = None
    ) -> None:
        if not p.claims.grants.moderate:
            raise PermissionDenied("granting the floor needs the moderate grant")
        target = self._get_visible(target_id)
        if target.moderator or not target.claims.grants.publish:
            raise InvalidState("the floor goes to a publishing, non-moderator participant")
        limit = self.hub.settings.interaction.max_grant_seconds
        if seconds is not None and seconds > limit:
            raise InvalidState(f"a grant lasts at most {limit} seconds")
        change = self.floor.grant(target.id, seconds=seconds, now=time.time())
        if change.changed or seconds is not None:
            await self._floor_changed(change, "granted")

    async def revoke_floor(self, p: Participant, target_id: str | None) -> None:
        if not p.claims.grants.moderate and target_id != p.id:
            raise PermissionDenied("revoking the floor needs the moderate grant")
        change = self.floor.revoke(target_id)
        if change.changed:
            await self._floor_changed(change, "revoked")

    async def _floor_changed(self, change: FloorChange, reason: str = "") -> None:
        """Gate media, update who consumes whom, then tell everyone."""
        affected = set(change.added) | set(change.removed)
        for pid in affected:
            member = self.participants.get(pid)
            if member is not None:
                self._apply_gate(member)
        self._schedule_floor_expiry()
        self.broadcast(
            FloorChanged(floor=self.floor_state(), previous=change.previous, reason=reason)
        )
        holder = self.participants.get(change.holder or "")
        self.emit(
            "floor.changed",
            holder,
            {
                "reason": reason,
                "holder": change.holder,
                "previous": change.previous,
                "speakers": list(change.speakers),
                "added": list(change.added),
                "removed": list(change.removed),
                "queue": list(change.queue),
                "mode": self.floor.mode.value,
                "max_speakers": self.floor.max_speakers,
                "expires_at": dict(self.floor.expires_at),
                "mute_all": self.floor.mute_all,
                "holder_identity": holder.claims.identity if holder else None,
            },
        )
        ends = {pid for pid in (change.previous, change.holder) if pid is not None}
        for pid in affected | set(change.queue) | ends:
            member = self.participants.get(pid)
            if member is not None and not member.hidden:
                self.broadcast(ParticipantUpdated(participant=self.info(member)))
        if change.added or change.removed:
            self.spawn(self._resubscribe_for_floor(change.removed, change.added))

    def _schedule_floor_expiry(self) -> None:
        """One timer for the earliest time limit; expired grants are revoked and announced."""
        if self._floor_timer is not None:
            self._floor_timer.cancel()
            self._floor_timer = None
        ends = self.floor.next_expiry()
        if ends is None or self.closed:
            return
        delay = max(0.0, ends - time.time())
        self._floor_timer = asyncio.get_running_loop().call_later(
            delay, lambda: self.spawn(self._expire_floor())
        )

    async def _expire_floor(self) -> None:
        self._floor_timer = None
        change = self.floor.expire(time.time())
        if change.changed:
            await self._floor_changed(change, "expired")
        else:
            self._schedule_floor_expiry()

    async def _resubscribe_for_floor(
        self, removed: tuple[str, ...], added: tuple[str, ...]
    ) -> None:
        """Receiving classrooms follow the floor: drop old speakers, consume the new ones."""
        if self.policy.everyone_consumes_everyone:
            return
        for sub in list(self.participants.values()):
            if sub.moderator or sub.hidden or not sub.auto_subscribe:
                continue
            for gone in removed:
                if gone == sub.id:
                    continue
                for group, s in list(sub.subscriptions.items()):
                    if s.explicit or not group.startswith(f"{gone}:"):
                        continue
                    if self._wants(sub, gone, group.rsplit(":", 1)[-1]):
                        continue  # still wanted (a screen share in a meeting)
                    sub.subscriptions.pop(group, None)
                    await self._drop_consumer(sub, s)
            for speaker in added:
                owner = self.participants.get(speaker)
                if speaker != sub.id and owner is not None and owner.producers:
                    await self._consume(
                        sub, list(owner.producers.values()), explicit=False, layer=None
                    )

    async def mute(self, p: Participant, target_id: str, kind: Kind, muted: bool) -> None:
        if target_id != p.id and not p.claims.grants.moderate:
            raise PermissionDenied("muting others needs the moderate grant")
        target = p if target_id == p.id else self._get_visible(target_id)
        if (
            target is p
            and not muted
            and kind == "audio"
            and self.floor.mute_all
            and not p.moderator
            and not self.floor.is_speaker(p.id)
        ):
            raise PermissionDenied("everyone is muted: unmute yourself once you have the floor")
        if muted:
            target.muted.add(kind)
        else:
            target.muted.discard(kind)
        self._apply_gate(target)
        self.broadcast(Muted(participant_id=target.id, kind=kind, muted=muted, by=p.id))
        if not target.hidden:
            self.broadcast(ParticipantUpdated(participant=self.info(target)))

    # ------------------------------------------------------------ stats and close

    def stats(
        self, p: Participant, scope: str
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        if scope == "room" and not p.claims.grants.moderate:
            raise PermissionDenied("room stats need the moderate grant")
        producers = {pid: pr.stats() for pid, pr in p.producers.items()}
        consumers = {s.consumer.id: s.consumer.stats() for s in p.subscriptions.values()}
        return producers, consumers, (self.media.stats() if scope == "room" else None)

    def _on_media_room_close(self, reason: Any = None) -> None:
        for p in list(self.participants.values()):
            p.peer.close(CloseReason.ROOM_CLOSED, f"media room closed: {reason}")

    async def close(self) -> None:
        """Cancel background steps and close the media room (cascades to transports)."""
        if self.closed:
            return
        self.closed = True
        if self._floor_timer is not None:
            self._floor_timer.cancel()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for feature in self.features.values():
            try:
                await feature.close()
            except Exception:
                logger.exception("feature %s failed to close", feature.name)
        await self.media.close("room_closed")
        self.emit("room.closed")


class RoomHub:
    """Owns the media worker and every signaling room; one per app."""

    def __init__(self, worker: Any, settings: Settings) -> None:
        self.worker = worker
        self.settings = settings
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()  # membership changes: a room never closes under a joiner
        self._closing = False
        self.sessions: set[Any] = set()
        self.events = EventBus()
        self.observe = self.events.observe
        # The app's `Database` when signaling runs inside the app (features persist through it).
        self.db: Any = None
        # Places kept for dropped connections and the tokens that take them back.
        from signaling.resume import ResumeBook

        self.resume = ResumeBook(self, settings)

    async def join(
        self,
        claims: RoomClaims,
        peer: Peer,
        auto_subscribe: bool,
        participant_id: str | None = None,
    ) -> tuple[Room, Participant, bool]:
        """Add a participant; an existing session of the same identity is replaced.

        ``participant_id``: rebuild a participant the server lost (it restarted) under the
        id its resume token names (signaling/resume.py).
        """
        async with self._lock:
            if self._closing:
                raise InvalidState("server is shutting down")
            room = self.rooms.get(claims.room)
            if room is None:
                room = Room(self, self.worker.get_or_create_room(claims.room))
                room.configure(getattr(claims, "kind", None))
                self.rooms[claims.room] = room
            resumed = False
            for old in list(room.participants.values()):
                if old.claims.identity == claims.identity:
                    old.peer.close(CloseReason.DUPLICATE_IDENTITY, "joined again elsewhere")
                    await room.remove(old, CloseReason.DUPLICATE_IDENTITY)
                    resumed = True
            p = Participant(participant_id or _new_id("PA"), claims, peer, auto_subscribe)
            await room.add(p)
            return room, p, resumed

    async def close_room(self, room_id: str, message: str = "the lesson has ended") -> bool:
        """End a room from outside (the lesson ended over REST): everyone gets `closed`."""
        async with self._lock:
            room = self.rooms.pop(room_id, None)
            if room is None:
                return False
            for p in list(room.participants.values()):
                p.peer.close(CloseReason.ROOM_CLOSED, message)
                await room.remove(p, CloseReason.ROOM_CLOSED)
            await room.close()
            return True

    async def leave(self, room: Room, p: Participant, reason: CloseReason) -> None:
        self.resume.forget(p.id)
        async with self._lock:
            await room.remove(p, reason)
            if not room.participants and self.rooms.get(room.id) is room:
                del self.rooms[room.id]
                await room.close()

    async def close(self, wait_sessions: Callable[[], Awaitable[None]] | None = None) -> None:
        """Shutdown: end every session, close every room, then the worker."""
        self._closing = True
        for session in list(self.sessions):
            session.close(CloseReason.SERVER_SHUTDOWN, "server shutting down")
        if wait_sessions is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wait_sessions(), 5.0)
        async with self._lock:
            for room in list(self.rooms.values()):
                await room.close()
            self.rooms.clear()
        await self.events.close()
        await self.worker.close()
