"""The WebSocket signaling protocol: every message on `/ws`, as pydantic models.

Why typed models: the browser clients, the Python client, the recorder and the
docs all derive from these classes (the JSON Schema is served at
`GET /api/protocol/schema` and rendered into docs/protocol.md), so there is one
definition of the wire format. Messages are discriminated on `type`, carry the
protocol version `v` and an optional request id `id`; a request that carries an
`id` gets exactly one reply carrying the same `id` (its typed reply, `ok`, or
`error`). Server-initiated messages (announcements, `offer`) have `id = null`.

Names of fields that come from the W3C API (`sdpMid`, `sdpMLineIndex`) keep
their spec spelling so a browser can pass an `RTCIceCandidate` through as is.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from signaling.messages import attendance, chat, courseware, floor_modes, quiz
from signaling.wire import (  # noqa: F401  (re-exported)
    _ID,
    _SDP,
    CLOSE_CODES,
    PROTOCOL_VERSION,
    CloseReason,
    Error,
    ErrorCode,
    Message,
    ProtocolError,
    _Message,
)

Layer = Literal["high", "low"]
Source = Literal["camera", "mic", "screen"]
Kind = Literal["audio", "video"]
TransportDirection = Literal["send", "recv"]


# ---------------------------------------------------------------- shared pieces


class TrackSpec(BaseModel):
    """What one m-section of a publish offer carries (maps to media `TrackInfo`)."""

    model_config = ConfigDict(extra="forbid")

    mid: _ID
    source: Source = "camera"
    layer: Layer = "high"


class ParticipantInfo(BaseModel):
    """A visible participant as the others see it (hidden ones never appear)."""

    id: str
    identity: str
    name: str = ""
    role: str
    can_publish: bool = False
    hand_raised: bool = False
    has_floor: bool = False
    muted: list[Kind] = Field(default_factory=list)
    # `reconnecting` while its connection is gone but its place kept (resume grace period).
    state: Literal["connected", "reconnecting"] = "connected"


class ProducerInfo(BaseModel):
    """One published track. `group` joins the layers of one source (`peer:source`)."""

    id: str
    participant_id: str
    kind: Kind
    codec: str = ""
    source: Source = "camera"
    layer: Layer = "high"
    group: str = ""
    paused: bool = False


class ConsumerInfo(BaseModel):
    """Which m-section of a recv-transport offer carries which producer.

    `mid` is the offer's m-section id; `track_id` is the msid track id, a
    fallback for clients that see tracks before transceivers.
    """

    id: str
    producer_id: str
    kind: Kind
    mid: str | None = None
    track_id: str | None = None
    layer: Layer | None = None


class IceServerInfo(BaseModel):
    """W3C RTCIceServer shape, passed to `new RTCPeerConnection({iceServers})`."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class FloorState(BaseModel):
    """Who talks now (连麦) and who raised a hand, in order.

    `speakers`: everyone who has the floor, oldest grant first (`holder` is the
    first, for one-speaker clients); `expires_at`: speaker -> epoch second when its
    time limit ends; `mode`/`max_speakers` (null = no limit): see docs/interaction.md.
    """

    holder: str | None = None
    queue: list[str] = Field(default_factory=list)
    speakers: list[str] = Field(default_factory=list)
    mode: Literal["chair", "free"] = "chair"
    max_speakers: int | None = 1
    expires_at: dict[str, float] = Field(default_factory=dict)
    mute_all: bool = False


# ---------------------------------------------------------------- client -> server


class Join(_Message):
    """First message on a connection. The token is a room token (server.tokens)."""

    type: Literal["join"] = "join"
    token: Annotated[str, Field(min_length=1, max_length=8192)]
    # Consume every producer the participant may see as it appears (LiveKit's autoSubscribe).
    auto_subscribe: bool = True
    # Take back one's place after a dropped connection (the `resume_token` of `joined`).
    resume_token: Annotated[str | None, Field(max_length=4096)] = None
    # With `resume_token`: the client's peer connections are gone too, so the server
    # closes the participant's transports, offers its subscriptions again on a new one
    # and the client publishes again (aiortc cannot restart ICE on a live connection).
    restart_media: bool = False


class Leave(_Message):
    """Leave the room; the server replies (if `id`) and closes with `client_leave`."""

    type: Literal["leave"] = "leave"


class Publish(_Message):
    """An SDP offer for the send transport plus what each m-section is."""

    type: Literal["publish"] = "publish"
    sdp: _SDP
    tracks: Annotated[list[TrackSpec], Field(min_length=1, max_length=8)]

    @model_validator(mode="after")
    def _unique_mids(self) -> Publish:
        mids = [t.mid for t in self.tracks]
        if len(set(mids)) != len(mids):
            raise ValueError("track mids must be unique")
        return self


class Unpublish(_Message):
    """Close one producer, or all of the sender's producers when `producer_id` is null."""

    type: Literal["unpublish"] = "unpublish"
    producer_id: _ID | None = None


class Subscribe(_Message):
    """Consume a producer of this room (beyond auto-subscribe); media follows in an `offer`."""

    type: Literal["subscribe"] = "subscribe"
    producer_id: _ID
    layer: Layer | None = None


class Unsubscribe(_Message):
    """Stop consuming a producer's source; its m-section goes inactive in the next `offer`."""

    type: Literal["unsubscribe"] = "unsubscribe"
    producer_id: _ID


class Answer(_Message):
    """Client -> server: the answer to the server's `offer` on the recv transport.

    Server -> client: the answer to `publish` (same shape plus producers, see
    `PublishAnswer`).
    """

    type: Literal["answer"] = "answer"
    sdp: _SDP


class Ice(_Message):
    """A trickled ICE candidate for one of the two transports; null candidate = end."""

    type: Literal["ice"] = "ice"
    transport: TransportDirection
    candidate: Annotated[str, Field(max_length=2048)] | None = None
    sdpMid: Annotated[str, Field(max_length=128)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=1024)] | None = None


class FloorRequest(_Message):
    """Raise (or, with `cancel`, lower) the hand: joins the visible queue."""

    type: Literal["floor_request"] = "floor_request"
    cancel: bool = False


class FloorGrant(_Message):
    """Moderator gives the floor (连麦) to a classroom; its producers are resumed."""

    type: Literal["floor_grant"] = "floor_grant"
    participant_id: _ID
    # Time limit: the floor is taken back (and announced) after this many seconds.
    seconds: Annotated[int, Field(ge=5, le=24 * 3600)] | None = None


class FloorRevoke(_Message):
    """Take the floor back; `participant_id` null = whoever holds it."""

    type: Literal["floor_revoke"] = "floor_revoke"
    participant_id: _ID | None = None


class Mute(_Message):
    """Moderator mutes (or unmutes) one kind of a participant's media, server-side."""

    type: Literal["mute"] = "mute"
    participant_id: _ID
    kind: Kind
    muted: bool = True


class LayerPreference(_Message):
    """Choose the layer of one consumer, named by its id or by the producer it copies."""

    type: Literal["layer_preference"] = "layer_preference"
    consumer_id: _ID | None = None
    producer_id: _ID | None = None
    layer: Layer

    @model_validator(mode="after")
    def _one_target(self) -> LayerPreference:
        if (self.consumer_id is None) == (self.producer_id is None):
            raise ValueError("give exactly one of consumer_id or producer_id")
        return self


class StatsRequest(_Message):
    """`self`: the caller's producers/consumers; `room`: everything (moderators only)."""

    type: Literal["stats_request"] = "stats_request"
    scope: Literal["self", "room"] = "self"


class Ping(_Message):
    """Liveness / round-trip check; answered with `pong` (also before `join`)."""

    type: Literal["ping"] = "ping"


# Feature messages join these unions as one line per module, e.g. `| chat.Client`
# (signaling/messages/chat.py); see signaling/features/__init__.py.
ClientMessage = Annotated[
    Join
    | Leave
    | Publish
    | Unpublish
    | Subscribe
    | Unsubscribe
    | Answer
    | Ice
    | FloorRequest
    | FloorGrant
    | FloorRevoke
    | Mute
    | LayerPreference
    | StatsRequest
    | Ping
    | floor_modes.Client
    | chat.Client
    | quiz.Client
    | attendance.Client
    | courseware.Client,
    Field(discriminator="type"),
]

# ---------------------------------------------------------------- server -> client


class Joined(_Message):
    """Reply to `join`: who you are, who is visible, what is published, the floor."""

    type: Literal["joined"] = "joined"
    participant_id: str
    room: str
    role: str
    hidden: bool = False
    participants: list[ParticipantInfo] = Field(default_factory=list)
    producers: list[ProducerInfo] = Field(default_factory=list)
    ice_servers: list[IceServerInfo] = Field(default_factory=list)
    floor: FloorState = Field(default_factory=FloorState)
    # True when this join replaced an earlier session of the same identity
    # (a reconnect): that session was closed with `duplicate_identity`.
    resume: bool = False
    # Send as `join.resume_token` after a dropped connection, within `resume_grace`
    # seconds; single use (each `joined` carries a fresh one).
    resume_token: str | None = None
    resume_grace: float = 0.0
    # True when this `joined` answered a `resume_token`: same participant id, place kept.
    resumed: bool = False


class ParticipantJoined(_Message):
    """A visible participant arrived (hidden ones are never announced)."""

    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantLeft(_Message):
    """A visible participant left; `reason` says how (leave, disconnect, replaced...)."""

    type: Literal["participant_left"] = "participant_left"
    participant_id: str
    reason: CloseReason


class ParticipantUpdated(_Message):
    """Hand raised/lowered, floor gained/lost or mute changed."""

    type: Literal["participant_updated"] = "participant_updated"
    participant: ParticipantInfo


class ProducerAdded(_Message):
    """A new track; consumers that auto-subscribe get it in the next `offer`."""

    type: Literal["producer_added"] = "producer_added"
    producer: ProducerInfo


class ProducerRemoved(_Message):
    """A track ended (unpublished, or its owner left)."""

    type: Literal["producer_removed"] = "producer_removed"
    producer_id: str
    participant_id: str


class Offer(_Message):
    """The server renegotiates the recv transport; reply with `answer`."""

    type: Literal["offer"] = "offer"
    sdp: str
    consumers: list[ConsumerInfo] = Field(default_factory=list)


class PublishAnswer(_Message):
    """Reply to `publish`: the send transport's answer and the producers created."""

    type: Literal["answer"] = "answer"
    sdp: str
    producers: list[ProducerInfo] = Field(default_factory=list)


class Subscribed(_Message):
    """Reply to `subscribe`; the media follows in the next `offer`."""

    type: Literal["subscribed"] = "subscribed"
    consumer_id: str
    producer_id: str


class FloorChanged(_Message):
    """The floor holder or the hand-raise queue changed."""

    type: Literal["floor_changed"] = "floor_changed"
    floor: FloorState
    previous: str | None = None
    # What happened: requested, cancelled, granted, revoked, expired, left, mode, mute_all.
    reason: Annotated[str, Field(max_length=32)] = ""


class Muted(_Message):
    """A participant's audio or video was muted/unmuted server-side, `by` whom."""

    type: Literal["muted"] = "muted"
    participant_id: str
    kind: Kind
    muted: bool
    by: str


class Stats(_Message):
    """Reply to `stats_request`: media counters per producer / consumer id."""

    type: Literal["stats"] = "stats"
    producers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    consumers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    room: dict[str, Any] | None = None


class Ok(_Message):
    """Reply to a request that has no other result (leave, unsubscribe, floor_*, mute...)."""

    type: Literal["ok"] = "ok"


class Pong(_Message):
    """Reply to `ping`."""

    type: Literal["pong"] = "pong"


class Closed(_Message):
    """Last message before the server closes the socket; see CloseReason."""

    type: Literal["closed"] = "closed"
    reason: CloseReason
    message: str = ""


ServerMessage = Annotated[
    Joined
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantUpdated
    | ProducerAdded
    | ProducerRemoved
    | Offer
    | PublishAnswer
    | Subscribed
    | FloorChanged
    | Muted
    | Stats
    | Ok
    | Error
    | Pong
    | Closed
    | chat.Server
    | quiz.Server
    | attendance.Server
    | courseware.Server,
    Field(discriminator="type"),
]

CLIENT_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
SERVER_ADAPTER: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def _request_id(data: dict[str, Any]) -> str | None:
    """The `id` to echo in an error, if the sender gave a usable one."""
    rid = data.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Parse one frame from a client, raising ProtocolError with the right code.

    Why the steps: a client must be able to tell "not JSON" from "unknown type"
    from "bad field", and the error must echo the request id when there is one.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "a message must be a JSON object")
    rid = _request_id(data)
    version = data.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version!r} not supported (server speaks {PROTOCOL_VERSION})",
            rid,
        )
    try:
        return CLIENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in errors):
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE, f"unknown message type {data.get('type')!r}", rid
            ) from None
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or '(message)'}: {e['msg']}"
            for e in errors[:5]
        )
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, detail, rid) from None


def parse_server_message(raw: str | bytes) -> ServerMessage:
    """Used by clients (the Python client, tests) to read what the server sent."""
    return SERVER_ADAPTER.validate_json(raw)


def dump(message: BaseModel) -> str:
    """Serialize a message; `None` fields are kept so the shape is stable for clients."""
    return message.model_dump_json()


def json_schema() -> dict[str, Any]:
    """The protocol's JSON Schema: both directions, served and documented."""
    client = CLIENT_ADAPTER.json_schema(ref_template="#/$defs/{model}")
    server = SERVER_ADAPTER.json_schema(ref_template="#/$defs/{model}")
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tongbu signaling protocol",
        "version": PROTOCOL_VERSION,
        "$defs": defs,
        "properties": {"client_to_server": client, "server_to_client": server},
        "x-error-codes": [c.value for c in ErrorCode],
        "x-close-reasons": {r.value: CLOSE_CODES[r] for r in CloseReason},
    }
