"""`TongbuClient`: a Python participant speaking the `/ws` protocol with real aiortc peers.

Why a library and not test helpers: the integration tests, the recorder (a
hidden subscriber) and the benchmark (many subscribers in one process) all
need the same thing: join with a token, publish, answer the server's
renegotiation offers, and see each producer's frames. It speaks only the
documented messages (signaling.protocol), with two peer connections as the
server expects: `send` for publishing, `recv` for subscribing.

Frames are reported per producer. With `decode=False` the client never
decodes: it taps each receiver with the media package's `ReceiverTap` (the
same seam the SFU uses) and reports encoded frames, which is what the
recorder writes and what a benchmark with fifty subscribers can afford.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from clients.python.courseware import CoursewareCalls, CoursewareView
from clients.python.interaction import InteractionCalls, InteractionView
from clients.python.reconnect import Reconnecting
from signaling.protocol import (
    Answer,
    Closed,
    CloseReason,
    ConsumerInfo,
    Error,
    ErrorCode,
    FloorChanged,
    FloorGrant,
    FloorRequest,
    FloorRevoke,
    FloorState,
    Join,
    Joined,
    LayerPreference,
    Leave,
    Mute,
    Muted,
    Offer,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    Ping,
    ProducerAdded,
    ProducerInfo,
    ProducerRemoved,
    Publish,
    PublishAnswer,
    Stats,
    StatsRequest,
    Subscribe,
    Subscribed,
    TrackSpec,
    Unpublish,
    Unsubscribe,
    _Message,
    dump,
    parse_server_message,
)

logger = logging.getLogger("tongbu.client")

M = TypeVar("M", bound=_Message)
Handler = Callable[..., Any]


class SignalingError(Exception):
    """The server answered a request with `error`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class ConnectionClosed(Exception):
    """The session ended (the server's `closed` reason, or None if the socket just dropped)."""

    def __init__(self, reason: CloseReason | None, message: str = "") -> None:
        super().__init__(f"closed: {reason.value if reason else 'connection lost'} {message}")
        self.reason = reason


@dataclass
class PublishTrack:
    """A track to publish and what it is; `codec` (e.g. "video/VP8") pins the codec."""

    track: MediaStreamTrack
    source: str = "camera"
    layer: str = "high"
    codec: str | None = None


@dataclass
class ReceivedFrame:
    """One frame of a producer: decoded (`frame`) or encoded (`data`, `keyframe`)."""

    producer_id: str
    kind: str
    received_at: float
    frame: Any = None
    data: bytes | None = None
    timestamp: int | None = None
    keyframe: bool | None = None


@dataclass
class _Inbound:
    producer_id: str
    kind: str
    receiver: Any = None  # aiortc RTCRtpReceiver
    task: asyncio.Task[None] | None = None
    tap: Any = None


def _vp8_keyframe(data: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the first byte is 0 for a key frame."""
    return bool(data) and (data[0] & 0x01) == 0


@dataclass
class _Events:
    producer_added: list[Handler] = field(default_factory=list)
    producer_removed: list[Handler] = field(default_factory=list)
    participant_joined: list[Handler] = field(default_factory=list)
    participant_left: list[Handler] = field(default_factory=list)
    participant_updated: list[Handler] = field(default_factory=list)
    floor_changed: list[Handler] = field(default_factory=list)
    muted: list[Handler] = field(default_factory=list)
    frame: list[Handler] = field(default_factory=list)
    error: list[Handler] = field(default_factory=list)
    closed: list[Handler] = field(default_factory=list)


class TongbuClient(CoursewareCalls, InteractionCalls, Reconnecting):
    """One participant. Lifecycle: `join()` -> publish/subscribe/... -> `leave()`/`close()`.

    Use as `async with TongbuClient(url, token) as client:` to join and always close.
    State kept up to date from the server's announcements: `participants`,
    `producers`, `floor`; `frames` counts received frames per producer id.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        decode: bool = True,
        auto_subscribe: bool = True,
        request_timeout: float = 15.0,
        reconnect: bool = False,
    ) -> None:
        self._init_reconnect(reconnect)  # clients/python/reconnect.py
        self.url = url
        self.token = token
        self.decode = decode
        self.auto_subscribe = auto_subscribe
        self.request_timeout = request_timeout
        self.joined: Joined | None = None
        self.participant_id: str | None = None
        self.participants: dict[str, ParticipantInfo] = {}
        self.producers: dict[str, ProducerInfo] = {}
        self.published: dict[str, ProducerInfo] = {}
        self.floor = FloorState()
        self.interaction = InteractionView()  # chat, the open quiz, results, head counts
        self.courseware = CoursewareView()  # the shared page, strokes, pointers
        self.frames: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.first_frame_at: dict[str, float] = {}
        self.errors: list[Error] = []  # errors the server sent without a request id
        self.offers = 0  # renegotiation offers answered
        self.close_reason: CloseReason | None = None
        self.closed = asyncio.Event()
        self._events = _Events()
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[_Message]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._send_pc: RTCPeerConnection | None = None
        self._recv_pc: RTCPeerConnection | None = None
        self._send_tracks: list[tuple[Any, PublishTrack]] = []  # (transceiver, spec)
        self._players: list[MediaPlayer] = []
        self._inbound: dict[str, _Inbound] = {}  # by mid
        self._offer_lock = asyncio.Lock()
        self._consumers: dict[str, ConsumerInfo] = {}  # by mid and by track id

    # ------------------------------------------------------------ events

    def on_producer_added(self, handler: Handler) -> Handler:
        """`handler(ProducerInfo)`; may be a coroutine function. Returns it (decorator use)."""
        self._events.producer_added.append(handler)
        return handler

    def on_producer_removed(self, handler: Handler) -> Handler:
        """`handler(producer_id, participant_id)`."""
        self._events.producer_removed.append(handler)
        return handler

    def on_participant_joined(self, handler: Handler) -> Handler:
        self._events.participant_joined.append(handler)
        return handler

    def on_participant_left(self, handler: Handler) -> Handler:
        """`handler(participant_id, reason)`."""
        self._events.participant_left.append(handler)
        return handler

    def on_participant_updated(self, handler: Handler) -> Handler:
        self._events.participant_updated.append(handler)
        return handler

    def on_floor_changed(self, handler: Handler) -> Handler:
        """`handler(FloorState, previous_holder)`."""
        self._events.floor_changed.append(handler)
        return handler

    def on_muted(self, handler: Handler) -> Handler:
        self._events.muted.append(handler)
        return handler

    def on_frame(self, handler: Handler) -> Handler:
        """`handler(ReceivedFrame)`, called on the event loop for every frame: keep it cheap."""
        self._events.frame.append(handler)
        return handler

    def on_error(self, handler: Handler) -> Handler:
        """`handler(Error)` for errors not tied to a request of ours."""
        self._events.error.append(handler)
        return handler

    def on_closed(self, handler: Handler) -> Handler:
        """`handler(reason: CloseReason | None)`."""
        self._events.closed.append(handler)
        return handler

    def _emit(self, handlers: list[Handler], *args: Any) -> None:
        for handler in list(handlers):
            try:
                result = handler(*args)
                if asyncio.iscoroutine(result):
                    self._spawn(result)
            except Exception:
                logger.exception("client event handler failed")

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("client task failed", exc_info=task.exception())

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code once the socket closed (see protocol.CLOSE_CODES)."""
        return getattr(self._ws, "close_code", None) if self._ws is not None else None

    # ------------------------------------------------------------ wire

    async def connect(self) -> None:
        """Open the socket only (tests of the pre-join protocol use this)."""
        self._ws = await websockets.connect(self.url, max_size=None, open_timeout=10)
        self._reader = asyncio.create_task(self._read_loop(), name="tongbu-client-reader")

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is, bypassing the models (for tests of bad input)."""
        await self._ws.send(data)

    async def send(self, message: _Message) -> None:
        await self._ws.send(dump(message))

    async def request(self, message: _Message, expect: type[M]) -> M:
        """Send with a fresh id, wait for the reply with that id; `error` raises."""
        if self.closed.is_set():
            raise ConnectionClosed(self.close_reason)
        message.id = f"c{next(self._ids)}"
        future: asyncio.Future[_Message] = asyncio.get_running_loop().create_future()
        self._pending[message.id] = future
        try:
            await self.send(message)
            reply = await asyncio.wait_for(future, self.request_timeout)
        finally:
            self._pending.pop(message.id, None)
        if isinstance(reply, Error):
            raise SignalingError(reply.code, reply.message)
        if not isinstance(reply, expect):
            raise SignalingError(ErrorCode.INTERNAL_ERROR, f"unexpected reply {reply.type}")  # type: ignore[attr-defined]
        return reply

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                try:
                    message = parse_server_message(raw)
                except Exception:
                    logger.exception("unparsable server message")
                    continue
                self._dispatch(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            reason = self.close_reason
            if reason is None and self.close_code in (1001, 1012):
                # The ASGI server closes sockets itself on shutdown (1012, service
                # restart) before the app could send `closed`: same meaning.
                reason = CloseReason.SERVER_SHUTDOWN
            resumable = self._resumable(self._server_closed or reason)
            if reason in (None, CloseReason.SERVER_SHUTDOWN) and (self._resuming or resumable):
                self._start_resume()  # take the place back (clients/python/reconnect.py)
            else:
                self._finish(reason)

    def _finish(self, reason: CloseReason | None, text: str = "") -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        self._fail_pending(reason, text)
        self._emit(self._events.closed, reason)

    def _fail_pending(self, reason: CloseReason | None, text: str = "") -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed(reason, text))

    def _dispatch(self, message: _Message) -> None:
        if message.id is not None and message.id in self._pending:
            future = self._pending[message.id]
            if not future.done():
                future.set_result(message)
            return
        match message:
            case ProducerAdded(producer=info):
                self.producers[info.id] = info
                self._emit(self._events.producer_added, info)
            case ProducerRemoved(producer_id=pid, participant_id=owner):
                self.producers.pop(pid, None)
                self._emit(self._events.producer_removed, pid, owner)
            case ParticipantJoined(participant=info):
                self.participants[info.id] = info
                self._emit(self._events.participant_joined, info)
            case ParticipantLeft(participant_id=pid, reason=reason):
                self.participants.pop(pid, None)
                self._emit(self._events.participant_left, pid, reason)
            case ParticipantUpdated(participant=info):
                self.participants[info.id] = info
                self._emit(self._events.participant_updated, info)
            case FloorChanged(floor=floor, previous=previous):
                self.floor = floor
                self._emit(self._events.floor_changed, floor, previous)
            case Muted():
                self._emit(self._events.muted, message)
            case Offer():
                self._spawn(self._on_offer(message))
            case Closed(reason=reason, message=text):
                if (
                    reason is not None
                    and reason is not CloseReason.DISCONNECTED
                    and (self._resumable(reason))
                ):
                    self._server_closed = reason  # the read loop resumes once the socket ends
                else:
                    self._finish(reason, text)
            case Error():
                self.errors.append(message)
                self._emit(self._events.error, message)
            case _ if (event := self.interaction.apply(message)) is not None:
                self._emit(self.interaction.handlers.get(event[0], []), event[1])
            case _:
                if not self.courseware.apply(message):
                    logger.debug("unhandled server message %s", message)

    # ------------------------------------------------------------ session

    async def join(self) -> Joined:
        if self._ws is None:
            await self.connect()
        joined = await self.request(
            Join(token=self.token, auto_subscribe=self.auto_subscribe), Joined
        )
        self._apply_joined(joined)
        return joined

    def _apply_joined(self, joined: Joined) -> None:
        self.joined = joined
        self.participant_id = joined.participant_id
        self.participants = {p.id: p for p in joined.participants}
        self.producers = {p.id: p for p in joined.producers}
        self.floor = joined.floor
        self.resume_token = joined.resume_token

    async def __aenter__(self) -> TongbuClient:
        await self.join()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _configuration(self) -> RTCConfiguration:
        servers = self.joined.ice_servers if self.joined else []
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
                for s in servers
            ]
        )

    async def leave(self) -> None:
        """Tell the server we leave (it replies, then closes with `client_leave`)."""
        if not self.closed.is_set() and self._ws is not None:
            with contextlib.suppress(ConnectionClosed, SignalingError, TimeoutError):
                await self.request(Leave(), _Message)
        await self.close()

    async def close(self) -> None:
        """Close the socket, both peer connections, players and tasks; idempotent."""
        self._closing = True  # a deliberate close never reconnects
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        self._finish(self.close_reason)
        for inbound in self._inbound.values():
            if inbound.tap is not None:
                inbound.tap.detach()
        for player in self._players:
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()
        for pc in (self._send_pc, self._recv_pc):
            if pc is not None:
                await pc.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ publishing

    async def publish(
        self, tracks: Sequence[PublishTrack | MediaStreamTrack]
    ) -> list[ProducerInfo]:
        """Add tracks to the send transport and publish them; returns the new producers."""
        if self._send_pc is None:
            self._send_pc = RTCPeerConnection(self._configuration())
        pc = self._send_pc
        for item in tracks:
            spec = item if isinstance(item, PublishTrack) else PublishTrack(item)
            if spec.source == "camera" and spec.track.kind == "audio":
                spec.source = "mic"
            # aiortc stops a sender's track when its connection dies; with reconnect the
            # sender gets a relay of it, so the source survives to be published again
            track = (
                self._relay.subscribe(spec.track, buffered=True) if self.reconnect else spec.track
            )
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if spec.codec is not None:
                caps = RTCRtpSender.getCapabilities(spec.track.kind).codecs
                wanted = [c for c in caps if c.mimeType.lower() == spec.codec.lower()]
                if not wanted:
                    raise ValueError(f"codec {spec.codec} not available")
                transceiver.setCodecPreferences(wanted)
            self._send_tracks.append((transceiver, spec))
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        specs = [
            TrackSpec(mid=t.mid, source=s.source, layer=s.layer)  # type: ignore[arg-type]
            for t, s in self._send_tracks
            if t.mid is not None
        ]
        reply = await self.request(
            Publish(sdp=pc.localDescription.sdp, tracks=specs), PublishAnswer
        )
        await pc.setRemoteDescription(RTCSessionDescription(reply.sdp, "answer"))
        for info in reply.producers:
            self.published[info.id] = info
        return reply.producers

    async def publish_file(
        self, path: str | Path, *, loop: bool = True, decode: bool = False
    ) -> list[ProducerInfo]:
        """Publish a media file's audio and video.

        With `decode=False` (default) the file's encoded packets (VP8/H.264,
        Opus) are sent as they are: no encoder runs, so many publishers fit in
        one process and the server sees exactly the file's keyframes.
        """
        player = MediaPlayer(str(path), loop=loop, decode=decode)
        self._players.append(player)
        specs: list[PublishTrack] = []
        if player.video is not None:
            codec = None
            if not decode:
                name = _video_codec_name(path)
                codec = {"vp8": "video/VP8", "h264": "video/H264"}.get(name)
            specs.append(PublishTrack(player.video, "camera", "high", codec))
        if player.audio is not None:
            specs.append(
                PublishTrack(player.audio, "mic", "high", "audio/opus" if not decode else None)
            )
        return await self.publish(specs)

    async def unpublish(self, producer_id: str | None = None) -> None:
        await self.request(Unpublish(producer_id=producer_id), _Message)
        if producer_id is None:
            self.published.clear()
        else:
            self.published.pop(producer_id, None)

    # ------------------------------------------------------------ subscribing

    async def subscribe(self, producer_id: str, layer: str | None = None) -> Subscribed:
        return await self.request(Subscribe(producer_id=producer_id, layer=layer), Subscribed)  # type: ignore[arg-type]

    async def unsubscribe(self, producer_id: str) -> None:
        await self.request(Unsubscribe(producer_id=producer_id), _Message)

    async def set_layer(
        self, layer: str, *, consumer_id: str | None = None, producer_id: str | None = None
    ) -> None:
        await self.request(
            LayerPreference(consumer_id=consumer_id, producer_id=producer_id, layer=layer),  # type: ignore[arg-type]
            _Message,
        )

    def receiver_for(self, producer_id: str) -> Any:
        """The aiortc `RTCRtpReceiver` carrying a producer (latest one), or None.

        For consumers of the raw RTP side, e.g. the recorder reading RTCP sender
        reports to map the producer's RTP clock onto the lesson timeline.
        """
        for inbound in reversed(list(self._inbound.values())):
            if inbound.producer_id == producer_id:
                return inbound.receiver
        return None

    async def _on_offer(self, offer: Offer) -> None:
        """Answer the server's renegotiation of the recv transport (one at a time)."""
        async with self._offer_lock:
            if self._recv_pc is None:
                self._recv_pc = RTCPeerConnection(self._configuration())
                self._recv_pc.on("track", self._on_track)
            pc = self._recv_pc
            for info in offer.consumers:
                if info.mid:
                    self._consumers[f"mid:{info.mid}"] = info
                if info.track_id:
                    self._consumers[f"track:{info.track_id}"] = info
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            try:
                await self.request(Answer(sdp=pc.localDescription.sdp), _Message)
            except (SignalingError, ConnectionClosed, TimeoutError) as exc:
                logger.warning("answer rejected: %s", exc)
                return
            self.offers += 1

    def _on_track(self, track: MediaStreamTrack) -> None:
        pc = self._recv_pc
        transceiver = next(
            (t for t in (pc.getTransceivers() if pc else []) if t.receiver.track is track), None
        )
        mid = transceiver.mid if transceiver is not None else None
        info = self._consumers.get(f"mid:{mid}") or self._consumers.get(f"track:{track.id}")
        if info is None or transceiver is None or mid is None:
            logger.warning("track %s (mid %s) matches no consumer", track.id, mid)
            return
        inbound = _Inbound(info.producer_id, track.kind, transceiver.receiver)
        self._inbound[mid] = inbound
        if self.decode:
            inbound.task = self._spawn(self._read_decoded(inbound, track))
        else:
            from media.passthrough import ReceiverTap

            def on_frame(codec: Any, data: bytes, timestamp: int) -> None:
                keyframe = _vp8_keyframe(data) if codec.mimeType.lower() == "video/vp8" else None
                self._frame(inbound, data=data, timestamp=timestamp, keyframe=keyframe)

            inbound.tap = ReceiverTap(transceiver.receiver)
            inbound.tap.bind(on_frame, lambda: None)

    async def _read_decoded(self, inbound: _Inbound, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._frame(inbound, frame=frame, timestamp=getattr(frame, "pts", None))

    def _frame(self, inbound: _Inbound, **fields: Any) -> None:
        pid = inbound.producer_id
        now = time.monotonic()
        self.frames[pid] += 1
        data = fields.get("data")
        if data is not None:
            self.bytes[pid] += len(data)
        self.first_frame_at.setdefault(pid, now)
        if self._events.frame:
            self._emit(self._events.frame, ReceivedFrame(pid, inbound.kind, now, **fields))

    # ------------------------------------------------------------ floor, mute, stats

    async def request_floor(self, *, cancel: bool = False) -> None:
        await self.request(FloorRequest(cancel=cancel), _Message)

    async def grant_floor(self, participant_id: str) -> None:
        await self.request(FloorGrant(participant_id=participant_id), _Message)

    async def revoke_floor(self, participant_id: str | None = None) -> None:
        await self.request(FloorRevoke(participant_id=participant_id), _Message)

    async def mute(self, participant_id: str, kind: str, muted: bool = True) -> None:
        await self.request(Mute(participant_id=participant_id, kind=kind, muted=muted), _Message)  # type: ignore[arg-type]

    async def get_stats(self, scope: str = "self") -> Stats:
        return await self.request(StatsRequest(scope=scope), Stats)  # type: ignore[arg-type]

    async def ping(self) -> float:
        """Round trip of a `ping` in seconds."""
        start = time.monotonic()
        await self.request(Ping(), _Message)
        return time.monotonic() - start

    # ------------------------------------------------------------ waiting helpers

    async def wait_for_frames(
        self, count: int, *, producer_ids: Sequence[str] | None = None, within: float = 10.0
    ) -> None:
        """Until each given producer (default: any) delivered `count` frames."""

        def done() -> bool:
            if producer_ids is None:
                return sum(self.frames.values()) >= count
            return all(self.frames[p] >= count for p in producer_ids)

        await self.wait_until(done, within=within)

    async def wait_until(self, predicate: Callable[[], bool], *, within: float = 10.0) -> None:
        """Poll a condition on the client's state (cheap; for tests and bots)."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.02)


def _video_codec_name(path: str | Path) -> str:
    import av

    with av.open(str(path)) as container:
        for stream in container.streams.video:
            return str(stream.codec_context.name)
    return ""
