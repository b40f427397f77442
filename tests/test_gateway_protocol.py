"""The sans-I/O protocol core, without sockets: every rule, and a property test over random frames."""

from __future__ import annotations

import json

import pytest
from gateway_helpers import check_client, check_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxstream.errors import AuthError
from rxstream.gateway.protocol import (
    Close,
    CloseCode,
    Connection,
    ConnectionState,
    ErrorCode,
    Grant,
    Limits,
    Send,
    Subscribe,
    Unsubscribe,
)

TOPICS = {"price_updates": "state", "portfolio_updates": "state", "signals": "lossless", "trade_executions": "lossless"}
DOCUMENTED_CLOSE = {int(c) for c in CloseCode}


def conn(**kw) -> Connection:
    return Connection("c1", epoch="e1", topics=TOPICS, **kw)


def errors(events) -> list[str]:
    return [e.message["code"] for e in events if isinstance(e, Send) and e.message["type"] == "error"]


def test_welcome_matches_schema_and_lists_topics() -> None:
    welcome = check_server(conn().welcome())
    assert welcome["topics"] == list(TOPICS)
    assert welcome["limits"]["max_frame_size"] == 65536
    assert welcome["policies"]["signals"] == "lossless"


def test_ping_gets_pong_with_id() -> None:
    assert conn().receive('{"type":"ping","id":7}', 0.0) == [Send({"type": "pong", "id": 7})]


def test_subscribe_validates_and_returns_action() -> None:
    frame = {"type": "subscribe", "topics": ["price_updates", "signals"], "symbols": ["EURUSD"], "max_rate": 2,
             "epoch": "e1", "since": {"signals": 5}}
    check_client(frame)
    c = conn()
    [action] = c.receive(json.dumps(frame), 0.0)
    assert action == Subscribe(("price_updates", "signals"), frozenset({"EURUSD"}), 2.0, "e1", {"signals": 5}, None)
    assert c.subscriptions == {"price_updates", "signals"}


def test_unknown_topic_is_named_and_known_ones_still_subscribe() -> None:
    events = conn().receive('{"type":"subscribe","topics":["nope","signals"]}', 0.0)
    assert isinstance(events[0], Send) and events[0].message["code"] == "unknown_topic"
    assert events[0].message["topic"] == "nope" and "'nope'" in events[0].message["message"]
    assert events[1] == Subscribe(("signals",))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", ErrorCode.INVALID_JSON),
        (b"\xff\xfe", ErrorCode.INVALID_JSON),
        ("42", ErrorCode.INVALID_MESSAGE),
        ("[]", ErrorCode.INVALID_MESSAGE),
        ('{"topics":[]}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"dance"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"subscribe"}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":"signals"}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":["signals"],"max_rate":0}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":["signals"],"max_rate":true}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":["signals"],"since":{"signals":1}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":["signals"],"epoch":"e1","since":{"signals":-1}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe","topics":["signals"],"symbols":[1]}', ErrorCode.INVALID_FIELD),
        ('{"type":"unsubscribe","topics":["x"]}', ErrorCode.UNKNOWN_TOPIC),
        ('{"type":"auth","token":"abc"}', ErrorCode.INVALID_MESSAGE),
        ("[" + ",".join(['{"type":"ping"}'] * 65) + "]", ErrorCode.BATCH_TOO_LARGE),
        ('{"type":"ping","pad":"' + "x" * 70000 + '"}', ErrorCode.FRAME_TOO_LARGE),
    ],
)
def test_bad_frames_get_documented_error_and_connection_stays(frame: str | bytes, code: ErrorCode) -> None:
    c = conn()
    events = c.receive(frame, 0.0)
    assert errors(events)[0] == code.value
    for e in events:
        if isinstance(e, Send):
            check_server(e.message)
    assert c.state is ConnectionState.OPEN
    assert c.receive('{"type":"ping"}', 0.0) == [Send({"type": "pong"})]


def test_array_frame_handles_each_message_in_order() -> None:
    frame = '[{"type":"ping","id":1},{"type":"subscribe","topics":["signals"]},{"type":"ping","id":2}]'
    events = conn().receive(frame, 0)
    assert events == [Send({"type": "pong", "id": 1}), Subscribe(("signals",)), Send({"type": "pong", "id": 2})]


def test_unsubscribe_replies_and_acts() -> None:
    c = conn()
    c.receive('{"type":"subscribe","topics":["signals","price_updates"]}', 0)
    assert c.receive('{"type":"unsubscribe","topics":["signals"],"id":"u"}', 0) == [
        Unsubscribe(("signals",)),
        Send({"type": "unsubscribed", "topics": ["signals"], "id": "u"}),
    ]
    assert c.subscriptions == {"price_updates"}


def test_inbound_rate_limit_closes_with_documented_code() -> None:
    c = conn(limits=Limits(inbound_rate=10, inbound_burst=5))
    for _ in range(5):
        assert c.receive('{"type":"ping"}', 0.0) == [Send({"type": "pong"})]
    events = c.receive('{"type":"ping"}', 0.0)
    assert errors(events) == ["rate_limited"]
    assert events[-1] == Close(CloseCode.RATE_LIMITED, events[0].message["message"])
    assert c.state is ConnectionState.CLOSING and c.closing == events[-1]
    assert c.receive('{"type":"ping"}', 10.0) == []


def test_rate_limit_refills_over_time() -> None:
    c = conn(limits=Limits(inbound_rate=10, inbound_burst=2))
    for i in range(100):  # 10/s for 10 s is within the rate
        assert c.receive('{"type":"ping"}', i * 0.1) == [Send({"type": "pong"})]


def test_token_topics_restrict_welcome_and_subscribe() -> None:
    c = conn(grant=Grant("alice", frozenset({"signals"}), 100.0))
    assert c.welcome()["topics"] == ["signals"] and c.welcome()["expires_at"] == 100.0
    events = c.receive('{"type":"subscribe","topics":["signals","trade_executions"]}', 0)
    assert errors(events) == ["forbidden_topic"]
    assert events[-1] == Subscribe(("signals",))


def test_token_expiry_and_refresh() -> None:
    def verify(token: str) -> Grant:
        if token == "good":
            return Grant("alice", frozenset({"price_updates"}), 200.0)
        raise AuthError("token_expired", "the token expired at 1970-01-01T00:01:40Z")

    refused = conn(grant=Grant("alice", None, 100.0), verify=verify)
    events = refused.receive('{"type":"auth","token":"old","id":9}', 0)
    assert errors(events) == ["token_expired"] and events[0].message["id"] == 9
    assert events[-1].code == CloseCode.UNAUTHORIZED and refused.state is ConnectionState.CLOSING
    c = conn(grant=Grant("alice", None, 100.0), verify=verify)
    c.receive('{"type":"subscribe","topics":["signals","price_updates"]}', 0)
    events = c.receive('{"type":"auth","token":"good","id":1}', 0)
    assert events[0] == Unsubscribe(("signals",))
    assert events[1] == Send({"type": "authenticated", "expires_at": 200.0, "unsubscribed": ["signals"], "id": 1})
    assert c.check_expiry(150.0) == []
    expired = c.check_expiry(200.0)
    assert errors(expired) == ["token_expired"] and expired[-1].code == CloseCode.UNAUTHORIZED


# --- property: random frames never raise; each gets valid replies or a documented close ----------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_field_values = st.one_of(
    _json,
    st.lists(st.sampled_from([*TOPICS, "nope", ""]), max_size=4),
    st.dictionaries(st.sampled_from([*TOPICS, "x"]), st.integers(-3, 10**20), max_size=3),
)
_message = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "ping", "auth", "nope", 3, None])},
    optional={
        name: _field_values
        for name in ("topics", "symbols", "max_rate", "epoch", "since", "id", "token")
    },
)
_frame = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v)),
    _message.map(lambda v: json.dumps(v)),
    st.lists(_message, min_size=0, max_size=5).map(lambda v: json.dumps(v)),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(frames=st.lists(st.tuples(_frame, st.floats(0, 0.5)), min_size=1, max_size=30))
def test_random_frames_get_valid_replies_or_documented_close(frames) -> None:
    def verify(token: str) -> Grant:
        if token.startswith("a"):
            return Grant(None, frozenset({"signals"}), None)
        raise AuthError("invalid_token", "bad signature")

    c = Connection("c", epoch="e", topics=TOPICS, limits=Limits(inbound_burst=20), verify=verify)
    now = 0.0
    for frame, dt in frames:
        now += dt
        events = c.receive(frame, now)
        for event in events:
            if isinstance(event, Send):
                check_server(event.message)
            elif isinstance(event, Close):
                assert event.code in DOCUMENTED_CLOSE and event.reason
                assert c.state is ConnectionState.CLOSING
            else:
                assert isinstance(event, Subscribe | Unsubscribe)
                assert set(event.topics) <= set(TOPICS)
        if c.state is ConnectionState.OPEN:
            assert events, f"no reply to {frame!r}"
