"""Each bad input maps to its own error code; good messages round-trip."""

from __future__ import annotations

import json

import pytest

from signaling.protocol import (
    CLOSE_CODES,
    SERVER_ADAPTER,
    CloseReason,
    ErrorCode,
    Ice,
    Join,
    LayerPreference,
    ProtocolError,
    Publish,
    json_schema,
    parse_client_message,
    parse_server_message,
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", ErrorCode.MALFORMED),
        ("{", ErrorCode.MALFORMED),
        (b"\xff\xfe", ErrorCode.MALFORMED),
        ('"join"', ErrorCode.MALFORMED),
        ("[]", ErrorCode.MALFORMED),
        ("{}", ErrorCode.UNKNOWN_TYPE),
        ('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": 5}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "join"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "join", "token": ""}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "ping", "surprise": 1}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "publish", "sdp": "v=0", "tracks": []}', ErrorCode.INVALID_MESSAGE),
        (
            '{"type": "publish", "sdp": "v=0", "tracks": [{"mid": "0"}, {"mid": "0"}]}',
            ErrorCode.INVALID_MESSAGE,
        ),
        (
            '{"type": "publish", "sdp": "v=0", "tracks": [{"mid": "0", "layer": "mid"}]}',
            ErrorCode.INVALID_MESSAGE,
        ),
        ('{"type": "ice", "transport": "sideways"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "mute", "participant_id": "p", "kind": "smell"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "layer_preference", "layer": "low"}', ErrorCode.INVALID_MESSAGE),
        (
            '{"type": "layer_preference", "layer": "low", "consumer_id": "a", "producer_id": "b"}',
            ErrorCode.INVALID_MESSAGE,
        ),
        ('{"type": "subscribe", "producer_id": "' + "x" * 500 + '"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "ping", "v": 2}', ErrorCode.UNSUPPORTED_VERSION),
    ],
)
def test_bad_input_gets_its_error_code(raw: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_client_message(raw)
    assert err.value.code is code


def test_error_echoes_the_request_id() -> None:
    with pytest.raises(ProtocolError) as err:
        parse_client_message('{"type": "subscribe", "id": "r-7"}')
    message = err.value.to_message()
    assert message.id == "r-7" and message.code is ErrorCode.INVALID_MESSAGE
    assert "producer_id" in message.message


def test_unusable_request_id_is_not_echoed() -> None:
    with pytest.raises(ProtocolError) as err:
        parse_client_message('{"type": "nope", "id": 12}')
    assert err.value.request_id is None


def test_client_messages_parse_to_their_models() -> None:
    join = parse_client_message('{"type": "join", "token": "t", "id": "1"}')
    assert isinstance(join, Join) and join.auto_subscribe and join.id == "1"
    ice = parse_client_message(
        '{"type": "ice", "transport": "recv",'
        ' "candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host", "sdpMid": "0", "sdpMLineIndex": 0}'
    )
    assert isinstance(ice, Ice) and ice.sdpMid == "0"
    pref = parse_client_message('{"type": "layer_preference", "producer_id": "p", "layer": "low"}')
    assert isinstance(pref, LayerPreference) and pref.layer == "low"
    pub = parse_client_message(
        json.dumps(
            {
                "type": "publish",
                "sdp": "v=0",
                "tracks": [{"mid": "0"}, {"mid": "1", "source": "mic"}],
            }
        )
    )
    assert isinstance(pub, Publish) and [t.source for t in pub.tracks] == ["camera", "mic"]


def test_server_messages_round_trip() -> None:
    raw = '{"type": "closed", "reason": "join_timeout", "v": 1, "id": null}'
    message = parse_server_message(raw)
    assert SERVER_ADAPTER.dump_python(message)["reason"] == "join_timeout"


def test_every_close_reason_has_a_websocket_code() -> None:
    assert set(CLOSE_CODES) == set(CloseReason)
    assert all(c in (1000, 1001, 1002, 1009) or 4000 <= c < 5000 for c in CLOSE_CODES.values())


def test_schema_lists_both_directions() -> None:
    schema = json_schema()
    client = schema["properties"]["client_to_server"]["discriminator"]["mapping"]
    server = schema["properties"]["server_to_client"]["discriminator"]["mapping"]
    # The 15 / 16 core messages, plus whatever the feature modules add.
    assert len(client) >= 15 and len(server) >= 16
    assert {"join", "floor_grant", "ping"} <= set(client)
    assert {"joined", "floor_changed", "error"} <= set(server)
    assert set(schema["x-error-codes"]) == {c.value for c in ErrorCode}


def test_checked_in_docs_match_the_models() -> None:
    """docs/protocol.md and docs/protocol.json are generated; regenerate when this fails."""
    from pathlib import Path

    from signaling.schema import BEGIN, END, markdown

    root = Path(__file__).resolve().parents[3]
    doc = (root / "docs" / "protocol.md").read_text()
    assert doc[doc.index(BEGIN) : doc.index(END) + len(END)] == markdown()
    assert json.loads((root / "docs" / "protocol.json").read_text()) == json.loads(
        json.dumps(json_schema())
    )
