"""The WebSocket protocol, sans I/O: client frames in, replies and actions out.

A :class:`Connection` holds one client's protocol state. The I/O shell (the
aiohttp handler) feeds it every text frame with :meth:`Connection.receive` and
carries out the events it returns; nothing here touches a socket, a clock or
the bus, so every rule is testable alone (``tests/test_gateway_protocol.py``).

Events returned by :meth:`Connection.receive` (in order, to be executed in order):

* :class:`Send` ``(message: dict)`` -- a control message for this client
  (``pong``, ``unsubscribed``, ``authenticated``, ``error``);
* :class:`Subscribe` ``(topics, symbols, max_rate, epoch, since, id)`` -- validated, known,
  allowed topics; the broadcaster answers with ``subscribed`` and a snapshot or the missed messages;
* :class:`Unsubscribe` ``(topics)``;
* :class:`Close` ``(code, reason)`` -- close the connection; nothing is received after it.

Error codes (``{"type": "error", "code": ..., "message": ...}``) are the members of
:class:`ErrorCode`; close codes are :class:`CloseCode`. Both tables are documented in
``docs/WEBSOCKET_USAGE.md``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import AuthError
from ..wire import DataEncoder, encode_data

__all__ = [
    "PROTOCOL_VERSION",
    "Close",
    "CloseCode",
    "Connection",
    "ConnectionState",
    "DataEncoder",
    "ErrorCode",
    "Event",
    "Grant",
    "Limits",
    "Send",
    "Subscribe",
    "Unsubscribe",
    "encode_data",
    "error_message",
]

PROTOCOL_VERSION = 1


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down; reconnect and resume."""
    MESSAGE_TOO_BIG = 1009
    """A frame exceeded the hard inbound limit (closed by the WebSocket layer)."""
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    """``max_connections`` reached; retry later with backoff."""
    UNAUTHORIZED = 4001
    """Missing, bad or expired token."""
    SLOW_CONSUMER = 4008
    """The client fell too far behind on a lossless topic; reconnect and resume with ``since``."""
    RATE_LIMITED = 4029
    """The client sent more messages than its inbound rate limit allows."""


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``error`` message."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_TOPIC = "unknown_topic"
    FORBIDDEN_TOPIC = "forbidden_topic"
    FRAME_TOO_LARGE = "frame_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    AUTH_REQUIRED = "auth_required"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    SLOW_CONSUMER = "slow_consumer"
    GOING_AWAY = "going_away"


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Limits:
    """The per-connection limits, announced in ``welcome``."""

    max_frame_size: int = 65536
    max_messages_per_frame: int = 64
    inbound_rate: float = 20.0
    inbound_burst: int = 40
    max_topics: int = 100
    max_symbols: int = 1000
    queue_limit: int = 1000
    max_batch: int = 256
    ping_interval: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        """The ``limits`` object of ``welcome``."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows: ``topics`` (``None`` = all) until ``expires_at`` (epoch seconds)."""

    subject: str | None = None
    topics: frozenset[str] | None = None
    expires_at: float | None = None

    def allows(self, topic: str) -> bool:
        """Whether ``topic`` may be subscribed."""
        return self.topics is None or topic in self.topics or "*" in self.topics


@dataclass(frozen=True, slots=True)
class Send:
    """Send this control message to the client."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe to known, allowed ``topics`` with options; ``since`` asks to resume."""

    topics: tuple[str, ...]
    symbols: frozenset[str] | None = None
    max_rate: float | None = None
    epoch: str | None = None
    since: Mapping[str, int] = field(default_factory=dict)
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop delivering ``topics``."""

    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` and ``reason``."""

    code: int
    reason: str


Event = Send | Subscribe | Unsubscribe | Close


def error_message(code: ErrorCode, message: str, *, id: str | int | None = None, **extra: Any) -> dict[str, Any]:
    """An ``error`` message (``id`` echoes the request's, when it had one)."""
    out: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if id is not None:
        out["id"] = id
    out.update(extra)
    return out


class _Invalid(Exception):
    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def _request_id(msg: Mapping[str, Any]) -> str | int | None:
    value = msg.get("id")
    if type(value) is int and -(2**53) <= value <= 2**53:
        return value
    if type(value) is str and len(value) <= 128:
        return value
    return None


def _string_list(msg: Mapping[str, Any], name: str, limit: int, *, required: bool) -> list[str] | None:
    value = msg.get(name)
    if value is None:
        if required:
            raise _Invalid(ErrorCode.INVALID_FIELD, f"{name!r} is required: a list of strings", field=name)
        return None
    if type(value) is not list or not value:
        raise _Invalid(ErrorCode.INVALID_FIELD, f"{name!r} must be a non-empty list of strings", field=name)
    if len(value) > limit:
        raise _Invalid(ErrorCode.INVALID_FIELD, f"{name!r} has {len(value)} entries, at most {limit}", field=name)
    for item in value:
        if type(item) is not str or not item or len(item) > 200:
            raise _Invalid(
                ErrorCode.INVALID_FIELD, f"{name!r} entries must be non-empty strings, got {item!r:.60}", field=name
            )
    return list(dict.fromkeys(value))


class Connection:
    """One client's protocol state machine (see the module docstring for its events)."""

    def __init__(
        self,
        connection_id: str,
        *,
        epoch: str,
        topics: Mapping[str, str],
        limits: Limits | None = None,
        grant: Grant | None = None,
        verify: Callable[[str], Grant] | None = None,
        now: float = 0.0,
    ) -> None:
        """``topics`` maps each topic name to its policy (``state``/``lossless``); ``now`` starts the
        inbound rate limiter's clock (any monotonic seconds); ``verify`` checks ``auth`` tokens."""
        self.connection_id = connection_id
        self.epoch = epoch
        self.topics = dict(topics)
        self.limits = limits or Limits()
        self.grant = grant
        self.verify = verify
        self.state = ConnectionState.OPEN
        self.subscriptions: set[str] = set()
        self._tokens = float(self.limits.inbound_burst)
        self._last = now
        self.received = 0
        self.errors = 0

    # --- outgoing -------------------------------------------------------------------

    def welcome(self) -> dict[str, Any]:
        """The first message the server sends."""
        out: dict[str, Any] = {
            "type": "welcome",
            "connection_id": self.connection_id,
            "epoch": self.epoch,
            "protocol": PROTOCOL_VERSION,
            "topics": [t for t in self.topics if self._allowed(t)],
            "policies": {t: p for t, p in self.topics.items() if self._allowed(t)},
            "limits": self.limits.to_dict(),
        }
        if self.grant is not None and self.grant.expires_at is not None:
            out["expires_at"] = self.grant.expires_at
        return out

    def _allowed(self, topic: str) -> bool:
        return self.grant is None or self.grant.allows(topic)

    # --- incoming -------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> list[Event]:
        """Handle one inbound text frame received at ``now`` (monotonic seconds)."""
        if self.state is not ConnectionState.OPEN:
            return []
        self.received += 1
        if not self._take_token(now):
            return self._close(
                CloseCode.RATE_LIMITED,
                error_message(
                    ErrorCode.RATE_LIMITED,
                    f"more than {self.limits.inbound_rate:g} messages/s (burst {self.limits.inbound_burst})",
                ),
            )
        size = len(frame)
        if type(frame) is str and size * 4 > self.limits.max_frame_size:
            size = len(frame.encode("utf-8", "surrogatepass"))
        if size > self.limits.max_frame_size:
            return self._error(
                error_message(
                    ErrorCode.FRAME_TOO_LARGE, f"frame of {size} bytes, at most {self.limits.max_frame_size}"
                )
            )
        try:
            parsed = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            return self._error(error_message(ErrorCode.INVALID_JSON, f"invalid JSON: {exc}"))
        if type(parsed) is list:
            if not parsed:
                return self._error(error_message(ErrorCode.INVALID_MESSAGE, "an empty array carries no message"))
            limit = self.limits.max_messages_per_frame
            if len(parsed) > limit:
                return self._error(
                    error_message(ErrorCode.BATCH_TOO_LARGE, f"{len(parsed)} messages in one frame, at most {limit}")
                )
            events: list[Event] = []
            for item in parsed:
                events.extend(self._message(item))
                if self.state is not ConnectionState.OPEN:
                    break
            return events
        return self._message(parsed)

    def check_expiry(self, wall_time: float) -> list[Event]:
        """Close the connection if its token has expired by ``wall_time`` (epoch seconds)."""
        grant = self.grant
        if self.state is ConnectionState.OPEN and grant and grant.expires_at and wall_time >= grant.expires_at:
            return self._close(
                CloseCode.UNAUTHORIZED,
                error_message(ErrorCode.TOKEN_EXPIRED, "the token expired; reconnect with a new one"),
            )
        return []

    def close(self, code: CloseCode, message: dict[str, Any] | None = None) -> list[Event]:
        """Server-initiated close (shutdown, slow consumer): the events to execute."""
        if self.state is not ConnectionState.OPEN:
            return []
        return self._close(code, message)

    # --- internals ------------------------------------------------------------------

    def _take_token(self, now: float) -> bool:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.limits.inbound_burst), self._tokens + elapsed * self.limits.inbound_rate)
            self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _error(self, message: dict[str, Any]) -> list[Event]:
        self.errors += 1
        return [Send(message)]

    def _close(self, code: CloseCode, message: dict[str, Any] | None) -> list[Event]:
        self.state = ConnectionState.CLOSED
        self.subscriptions.clear()
        reason = message["message"] if message else code.name.lower()
        events: list[Event] = [Send(message)] if message else []
        events.append(Close(int(code), reason[:120]))
        return events

    def _message(self, msg: Any) -> list[Event]:
        if type(msg) is not dict:
            return self._error(
                error_message(ErrorCode.INVALID_MESSAGE, f"a message must be a JSON object, got {type(msg).__name__}")
            )
        kind = msg.get("type")
        rid = _request_id(msg)
        handler = _HANDLERS.get(kind) if type(kind) is str else None
        if handler is None:
            if kind is None:
                return self._error(error_message(ErrorCode.INVALID_MESSAGE, "the message has no 'type'", id=rid))
            known = ", ".join(_HANDLERS)
            return self._error(
                error_message(
                    ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r:.60}; expected one of {known}", id=rid
                )
            )
        try:
            return handler(self, msg, rid)
        except _Invalid as exc:
            return self._error(error_message(exc.code, exc.message, id=rid, **exc.extra))

    def _ping(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        out: dict[str, Any] = {"type": "pong"}
        if rid is not None:
            out["id"] = rid
        return [Send(out)]

    def _check_topics(self, names: list[str], rid: str | int | None) -> tuple[list[str], list[Event]]:
        known: list[str] = []
        events: list[Event] = []
        unknown = [t for t in names if t not in self.topics]
        forbidden = [t for t in names if t in self.topics and not self._allowed(t)]
        for t in unknown:
            self.errors += 1
            events.append(
                Send(error_message(ErrorCode.UNKNOWN_TOPIC, f"unknown topic {t!r}; known: {', '.join(self.topics)}",
                                   id=rid, topic=t))
            )
        for t in forbidden:
            self.errors += 1
            events.append(Send(error_message(ErrorCode.FORBIDDEN_TOPIC, f"the token does not allow topic {t!r}",
                                             id=rid, topic=t)))
        known = [t for t in names if t in self.topics and self._allowed(t)]
        return known, events

    def _subscribe(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        topics = _string_list(msg, "topics", self.limits.max_topics, required=True)
        assert topics is not None
        symbols = _string_list(msg, "symbols", self.limits.max_symbols, required=False)
        max_rate = msg.get("max_rate")
        if max_rate is not None:
            if type(max_rate) not in (int, float) or not math.isfinite(max_rate) or not 0 < max_rate <= 1000:
                raise _Invalid(
                    ErrorCode.INVALID_FIELD, f"'max_rate' must be a number in (0, 1000], got {max_rate!r:.60}",
                    field="max_rate",
                )
            max_rate = float(max_rate)
        epoch = msg.get("epoch")
        if epoch is not None and (type(epoch) is not str or len(epoch) > 64):
            raise _Invalid(ErrorCode.INVALID_FIELD, f"'epoch' must be a string, got {epoch!r:.60}", field="epoch")
        since_raw = msg.get("since")
        since: dict[str, int] = {}
        if since_raw is not None:
            if type(since_raw) is not dict:
                raise _Invalid(ErrorCode.INVALID_FIELD, "'since' must be an object {topic: last_seq}", field="since")
            for topic, seq in since_raw.items():
                if type(seq) is not int or seq < 0:
                    raise _Invalid(
                        ErrorCode.INVALID_FIELD, f"'since' of {topic!r:.60} must be an integer >= 0, got {seq!r:.60}",
                        field="since",
                    )
                since[topic] = seq
        if since and epoch is None:
            raise _Invalid(ErrorCode.INVALID_FIELD, "'since' needs the 'epoch' it was counted in", field="epoch")
        known, events = self._check_topics(topics, rid)
        if known:
            self.subscriptions.update(known)
            events.append(
                Subscribe(
                    tuple(known),
                    frozenset(symbols) if symbols is not None else None,
                    max_rate,
                    epoch,
                    {t: s for t, s in since.items() if t in known},
                    rid,
                )
            )
        return events

    def _unsubscribe(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        topics = _string_list(msg, "topics", self.limits.max_topics, required=True)
        assert topics is not None
        known, events = self._check_topics(topics, rid)
        if known:
            self.subscriptions.difference_update(known)
            events.append(Unsubscribe(tuple(known)))
            reply: dict[str, Any] = {"type": "unsubscribed", "topics": known}
            if rid is not None:
                reply["id"] = rid
            events.append(Send(reply))
        return events

    def _auth(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        token = msg.get("token")
        if type(token) is not str or not token:
            raise _Invalid(ErrorCode.INVALID_FIELD, "'token' must be a non-empty string", field="token")
        if self.verify is None:
            raise _Invalid(ErrorCode.INVALID_MESSAGE, "this server does not use tokens")
        try:
            grant = self.verify(token)
        except AuthError as exc:
            code = exc.code if exc.code in _AUTH_CODES else ErrorCode.INVALID_TOKEN
            return self._error(error_message(ErrorCode(code), exc.message, id=rid))
        self.grant = grant
        events: list[Event] = []
        revoked = tuple(t for t in self.subscriptions if not grant.allows(t))
        if revoked:
            self.subscriptions.difference_update(revoked)
            events.append(Unsubscribe(revoked))
        reply: dict[str, Any] = {"type": "authenticated", "expires_at": grant.expires_at}
        if revoked:
            reply["unsubscribed"] = list(revoked)
        if rid is not None:
            reply["id"] = rid
        events.append(Send(reply))
        return events


_AUTH_CODES = frozenset({ErrorCode.AUTH_REQUIRED, ErrorCode.INVALID_TOKEN, ErrorCode.TOKEN_EXPIRED})

_HANDLERS: dict[str, Callable[[Connection, dict[str, Any], Any], list[Event]]] = {
    "subscribe": Connection._subscribe,
    "unsubscribe": Connection._unsubscribe,
    "ping": Connection._ping,
    "auth": Connection._auth,
}
