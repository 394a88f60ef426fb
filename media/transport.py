"""One ``RTCPeerConnection`` of one peer: ``send`` (the peer publishes) or ``recv``.

Two peer connections per participant, as LiveKit does: the publisher side is
offered by the client (``apply_offer``), the subscriber side is offered by the
server (``consume`` then ``create_offer`` / ``apply_answer``), so adding a
consumer never races a client's publish renegotiation.

Network settings (``MediaSettings``), and what aiortc 1.16 / aioice 0.13 allow:
- ``ice_servers`` → ``RTCConfiguration.iceServers`` (STUN and TURN, used for
  server-reflexive/relay candidates of the server itself). An empty list means
  host candidates only (aiortc would otherwise default to Google's STUN).
- ``announced_address``: aioice cannot be told a public address, so each host
  UDP candidate in the SDP we return is duplicated with the announced address
  and the same port. That works behind 1:1 NAT / port forwarding (typical cloud
  VM); the check from the client arrives on the real socket and aioice learns
  the client as a peer-reflexive candidate.
- ``udp_port_min``/``udp_port_max``: aioice binds ephemeral ports and has no
  option to restrict them; ``media.ports`` binds the host candidates of our own
  connections inside the range instead (no STUN candidates in that mode: set
  ``announced_address``). Open the range in the firewall (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from media.codecs import capability_for, is_forwardable
from media.consumer import Consumer
from media.events import EventEmitter
from media.passthrough import (
    Packer,
    ReceiverTap,
    SenderTap,
    negotiated_codecs,
    set_answer_codec,
)
from media.ports import restrict_peer_connection
from media.producer import Producer, TrackInfo
from server.errors import BadRequest, InvalidState, Unsupported
from server.settings import MediaSettings

if TYPE_CHECKING:
    from media.room import Room

logger = logging.getLogger("tongbu.media.transport")

Direction = Literal["send", "recv"]


def rtc_configuration(settings: MediaSettings) -> RTCConfiguration:
    """ICE servers from settings; never aiortc's implicit public STUN default."""
    servers = [
        RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
        for s in settings.ice_servers
    ]
    return RTCConfiguration(iceServers=servers)


_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d+) (udp|UDP) (\d+) (\S+) (\d+) typ host(.*)$")


def announce_address(sdp: str, address: str | None) -> str:
    """Add, for each host UDP candidate, a twin carrying ``address`` (see module doc)."""
    if not address:
        return sdp
    out: list[str] = []
    for line in sdp.splitlines():
        out.append(line)
        m = _CANDIDATE.match(line)
        if m and m.group(5) != address:
            foundation, component, proto, priority, _ip, port, rest = m.groups()
            out.append(
                f"a=candidate:{foundation}9 {component} {proto} {int(priority) - 1} "
                f"{address} {port} typ host{rest}"
            )
    return "\r\n".join(out) + "\r\n"


class Transport(EventEmitter):
    """Events: ``close``(reason), ``connectionstatechange``(state); observer: ``newproducer``,
    ``newconsumer``, ``close``."""

    def __init__(
        self,
        *,
        room: Room,
        peer_id: str,
        direction: Direction,
        settings: MediaSettings,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        transport_id: str | None = None,
    ) -> None:
        super().__init__()
        if direction not in ("send", "recv"):
            raise TypeError(f"direction must be 'send' or 'recv', not {direction!r}")
        self.id = transport_id or uuid.uuid4().hex
        self.peer_id = peer_id
        self.direction: str = direction
        self.closed = False
        self.observer = EventEmitter()
        self._room = room
        self._settings = settings
        self._spawn = spawn
        self._producers: dict[str, Producer] = {}
        self._consumers: dict[str, Consumer] = {}
        self._taps: dict[str, ReceiverTap] = {}
        self._transceivers: dict[str, Any] = {}  # consumer id -> RTCRtpTransceiver
        self._known_mids: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._negotiation = asyncio.Lock()
        self.pc = RTCPeerConnection(configuration=rtc_configuration(settings))
        self.pc.on("connectionstatechange", self._on_connection_state)

    def _restrict_ports(self) -> None:
        """Host candidates in the configured UDP range (gathering starts at the next
        setLocalDescription; see media/ports.py)."""
        low, high = self._settings.udp_port_min, self._settings.udp_port_max
        if low is not None and high is not None:
            restrict_peer_connection(self.pc, low, high)

    @property
    def producers(self) -> Mapping[str, Producer]:
        return MappingProxyType(self._producers)

    @property
    def consumers(self) -> Mapping[str, Consumer]:
        return MappingProxyType(self._consumers)

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    def _check(self, direction: str) -> None:
        if self.closed:
            raise InvalidState(f"transport {self.id} is closed")
        if self.direction != direction:
            raise InvalidState(f"transport {self.id} is a {self.direction} transport")

    # -- send side ---------------------------------------------------------------
    async def apply_offer(
        self, sdp: str, tracks: Mapping[str, TrackInfo | Mapping[str, Any]]
    ) -> str:
        """Apply the publisher's offer; create one Producer per new track; return the answer."""
        self._check("send")
        async with self._negotiation:
            await self._set_remote(sdp, "offer")
            new: list[tuple[Any, Any]] = []
            for transceiver in self.pc.getTransceivers():
                mid = transceiver.mid
                if mid is None or mid in self._known_mids or transceiver.receiver.track is None:
                    continue
                codecs = [c for c in negotiated_codecs(transceiver) if is_forwardable(c)]
                if not codecs:
                    raise Unsupported(
                        f"no forwardable codec for {transceiver.kind} track (mid {mid}); "
                        "the SFU forwards VP8, H.264 constrained baseline and Opus"
                    )
                new.append((transceiver, codecs[0]))
            for transceiver, codec in new:
                self._known_mids.add(transceiver.mid)
                set_answer_codec(transceiver, codec)
                info = _track_info(tracks.get(transceiver.mid), transceiver.kind)
                tap = ReceiverTap(transceiver.receiver)
                producer = Producer(
                    peer_id=self.peer_id,
                    kind=transceiver.kind,
                    codec=codec,
                    info=info,
                    settings=self._settings,
                    send_pli=tap.send_pli,
                    mid=transceiver.mid,
                )
                tap.bind(producer._on_encoded_frame, lambda p=producer: p._close("track_ended"))
                self._taps[producer.id] = tap
                self._producers[producer.id] = producer
                producer.on("@close", lambda _r, p=producer: self._drop_producer(p))
                self._room._add_producer(producer)
                self.observer.emit("newproducer", producer)
            answer = await self.pc.createAnswer()
            self._restrict_ports()
            await self.pc.setLocalDescription(answer)
            return announce_address(self.pc.localDescription.sdp, self._settings.announced_address)

    def _drop_producer(self, producer: Producer) -> None:
        self._producers.pop(producer.id, None)
        tap = self._taps.pop(producer.id, None)
        if tap is not None:
            tap.detach()

    # -- recv side ---------------------------------------------------------------
    async def consume(self, producer: Producer, *, layer: str | None = None) -> Consumer:
        """A consumer of ``producer``'s group on this peer; renegotiate with ``create_offer``."""
        self._check("recv")
        if producer.closed or self._room.producers.get(producer.id) is not producer:
            raise InvalidState(f"producer {producer.id} is closed or not in room {self._room.id}")
        if layer is not None and layer not in ("high", "low"):
            raise TypeError(f"unknown layer {layer!r}")
        caps = capability_for(producer.codec_parameters)
        consumer = Consumer(
            peer_id=self.peer_id,
            producer=producer,
            layers=self._room._group_layers(producer.group, producer.kind),
            settings=self._settings,
            preferred_layer=layer,
        )
        transceiver = self.pc.addTransceiver(consumer.track, direction="sendonly")
        transceiver.setCodecPreferences(caps)
        consumer.sender_tap = SenderTap(
            transceiver.sender,
            Packer(producer.codec, consumer.track),
            on_keyframe_request=consumer._on_remote_keyframe_request,
            on_report=consumer._on_receiver_report,
            on_nack=consumer._on_nack,
        )
        self._consumers[consumer.id] = consumer
        self._transceivers[consumer.id] = transceiver
        consumer.on("@close", lambda _r, c=consumer: self._drop_consumer(c))
        self.observer.emit("newconsumer", consumer)
        return consumer

    def _drop_consumer(self, consumer: Consumer) -> None:
        self._consumers.pop(consumer.id, None)
        transceiver = self._transceivers.pop(consumer.id, None)
        if transceiver is not None and not self.closed:
            self._run(self._retire(transceiver))

    async def _retire(self, transceiver: Any) -> None:
        """Stop a closed consumer's sender; its m-line goes inactive at the next offer."""
        transceiver.direction = "inactive"
        await transceiver.sender.stop()

    async def create_offer(self) -> str:
        self._check("recv")
        async with self._negotiation:
            try:
                offer = await self.pc.createOffer()
                self._restrict_ports()
                await self.pc.setLocalDescription(offer)
            except Exception as exc:
                raise InvalidState(f"cannot create an offer: {exc}") from exc
            for consumer_id, transceiver in self._transceivers.items():
                # mids are assigned by the first offer that carries the transceiver
                consumer = self._consumers.get(consumer_id)
                if consumer is not None and transceiver.mid is not None:
                    consumer.mid = transceiver.mid
            return announce_address(self.pc.localDescription.sdp, self._settings.announced_address)

    async def apply_answer(self, sdp: str) -> None:
        self._check("recv")
        async with self._negotiation:
            await self._set_remote(sdp, "answer")

    async def _set_remote(self, sdp: str, kind: str) -> None:
        if not isinstance(sdp, str) or "m=" not in sdp:
            raise BadRequest(f"unparsable SDP {kind}")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise BadRequest(f"unparsable or unacceptable SDP {kind}: {exc}") from exc

    # -- ICE --------------------------------------------------------------------
    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        if self.closed:
            raise InvalidState(f"transport {self.id} is closed")
        if candidate is None or candidate == "":
            await self.pc.addIceCandidate(None)  # type: ignore[arg-type]
            return
        try:
            parsed = candidate_from_sdp(candidate.removeprefix("a=").removeprefix("candidate:"))
        except Exception as exc:
            raise BadRequest(f"unparsable ICE candidate: {exc}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await self.pc.addIceCandidate(parsed)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc

    # -- lifecycle ----------------------------------------------------------------
    def _on_connection_state(self) -> None:
        state = self.connection_state
        self.emit("connectionstatechange", state)
        self.observer.emit("connectionstatechange", state)
        if state in ("failed", "closed") and not self.closed:
            self._spawn(self.close(f"connection_{state}"))

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("transport %s task failed", self.id, exc_info=task.exception())

    async def close(self, reason: str = "closed") -> None:
        """Idempotent: closes producers, consumers and the peer connection."""
        if self.closed:
            return
        self.closed = True
        for producer in list(self._producers.values()):
            producer._close("transport_closed")
        for consumer in list(self._consumers.values()):
            consumer._transport_closed()
        for tap in self._taps.values():
            tap.detach()
        self._taps.clear()
        try:
            await self.pc.close()
        except Exception:
            logger.exception("closing peer connection of transport %s", self.id)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._cancel_listener_tasks()
        self.emit("close", reason)
        self.observer.emit("close", reason)
        self.emit("@close", reason)
        self.remove_all_listeners()

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "peer_id": self.peer_id,
            "direction": self.direction,
            "state": self.connection_state,
            "producers": [p.stats() for p in self._producers.values()],
            "consumers": [c.stats() for c in self._consumers.values()],
        }


def _track_info(value: TrackInfo | Mapping[str, Any] | None, kind: str) -> TrackInfo:
    if isinstance(value, TrackInfo):
        return value
    default_source = "mic" if kind == "audio" else "camera"
    if value is None:
        return TrackInfo(source=default_source)
    data = dict(value) if isinstance(value, Mapping) else dict(vars(value))
    return TrackInfo(source=data.get("source", default_source), layer=data.get("layer", "high"))
