"""The WebSocket protocol, sans I/O: client frames in, server messages and actions out.

A :class:`Connection` holds one client's protocol state and is the only place that
decides what the server says and when a connection closes. The I/O shell (the
aiohttp handler and the broadcaster) feeds it every text frame with
:meth:`Connection.receive`, asks it for every server-initiated close (refusals,
slow consumer, token expiry, shutdown) and carries out the events it returns;
nothing here touches a socket, a clock or the bus, so every rule is testable alone
(``tests/test_gateway_protocol.py``).

States: ``OPEN`` → ``CLOSING`` (a :class:`Close` was returned; nothing more is
received) → ``CLOSED`` (the shell reports the socket gone with :meth:`Connection.finish`).

Events returned (in order, to be executed in order):

* :class:`Send` ``(message: dict)`` -- a control message for this client
  (``pong``, ``unsubscribed``, ``authenticated``, ``error``);
* :class:`Subscribe` ``(topics, symbols, max_rate, epoch, since, id, rewind)`` -- validated, known,
  allowed topics; the broadcaster answers with :func:`subscribed` and :func:`snapshot` or the
  missed (or rewound) messages;
* :class:`Unsubscribe` ``(topics)``;
* :class:`Close` ``(code, reason)`` -- close the connection after what is queued.

The server messages are built here: :meth:`Connection.welcome`, :func:`subscribed`,
:func:`snapshot`, :func:`encode_data` (the ``data`` message, handed to the bus),
:func:`error_message`, ``pong``, ``unsubscribed``, ``authenticated``. Error codes are the members of
:class:`ErrorCode`, close codes :class:`CloseCode` (``docs/WEBSOCKET_USAGE.md`` has both tables).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import AuthError
from ..wire import DataEncoder, encode_data
from . import _requests as req
from ._requests import Rewind
from .codes import CloseCode, ErrorCode
from .messages import encode, error_message, pong, snapshot, subscribed

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
    "Rewind",
    "Send",
    "Subscribe",
    "Unsubscribe",
    "encode",
    "encode_data",
    "error_message",
    "pong",
    "snapshot",
    "subscribed",
]

PROTOCOL_VERSION = 1

_NONE: frozenset[str] = frozenset()


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    OPEN = "open"
    CLOSING = "closing"
    """A close was decided: queued messages go out, then the close frame; nothing more is received."""
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
    """Subscribe to known, allowed ``topics`` with options; ``since`` asks to resume, ``rewind`` to replay."""

    topics: tuple[str, ...]
    symbols: frozenset[str] | None = None
    max_rate: float | None = None
    epoch: str | None = None
    since: Mapping[str, int] = field(default_factory=dict)
    id: str | int | None = None
    rewind: Rewind | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop delivering ``topics``."""

    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` and ``reason`` (after the messages already queued)."""

    code: int
    reason: str


Event = Send | Subscribe | Unsubscribe | Close


# --- the connection -------------------------------------------------------------------------


class Connection:
    """One client's protocol state machine (see the module docstring for its states and events)."""

    __slots__ = ("_last", "_tokens", "closing", "connection_id", "epoch", "errors", "grant", "limits", "received",
                 "state", "subscriptions", "topics", "verify")

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
        """``topics`` maps each topic name to its policy (``state``/``lossless``; shared, not copied);
        ``now`` starts the inbound rate limiter's clock (any monotonic seconds); ``verify`` checks
        ``auth`` tokens."""
        self.connection_id = connection_id
        self.epoch = epoch
        self.topics = topics
        self.limits = limits or Limits()
        self.grant = grant
        self.verify = verify
        self.state = ConnectionState.OPEN
        self.closing: Close | None = None
        """The close decided, once the state is ``CLOSING``."""
        self.subscriptions: frozenset[str] = _NONE  # replaced, never mutated: an idle client shares the empty one
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

    # --- server-initiated closes ------------------------------------------------------

    def refuse_full(self, max_connections: int) -> list[Event]:
        """Refuse a connection over ``max_connections`` (close 1013)."""
        return self.close(
            CloseCode.TRY_AGAIN_LATER,
            error_message(ErrorCode.TOO_MANY_CONNECTIONS, f"{max_connections} connections already; retry later"),
        )

    def refuse_token(self, error: AuthError) -> list[Event]:
        """Refuse a connection whose token is missing, bad or expired (close 4001)."""
        return self.close(CloseCode.UNAUTHORIZED, error_message(_auth_code(error), error.message))

    def slow_consumer(self, topic: str, backlog: int) -> list[Event]:
        """Close a client that fell ``backlog`` messages behind on lossless ``topic`` (4008)."""
        return self.close(
            CloseCode.SLOW_CONSUMER,
            error_message(
                ErrorCode.SLOW_CONSUMER,
                f"{backlog} messages of {topic!r} waiting; reconnect and resume with 'since'", topic=topic,
            ),
        )

    def going_away(self, reason: str = "server shutting down") -> list[Event]:
        """Close because the server stops (1001)."""
        return self.close(CloseCode.GOING_AWAY, error_message(ErrorCode.GOING_AWAY, reason))

    def check_expiry(self, wall_time: float) -> list[Event]:
        """Close the connection if its token has expired by ``wall_time`` (epoch seconds)."""
        grant = self.grant
        if grant is not None and grant.expires_at is not None and wall_time >= grant.expires_at:
            return self.close(
                CloseCode.UNAUTHORIZED,
                error_message(ErrorCode.TOKEN_EXPIRED, "the token expired; reconnect with a new one"),
            )
        return []

    def close(self, code: CloseCode, message: dict[str, Any] | None = None) -> list[Event]:
        """Close with ``code``, saying ``message`` (an ``error``) first; nothing once closing."""
        if self.state is not ConnectionState.OPEN:
            return []
        self.state = ConnectionState.CLOSING
        self.subscriptions = _NONE
        reason = message["message"] if message else code.name.lower()
        self.closing = Close(int(code), reason[:120])
        events: list[Event] = [Send(message)] if message else []
        events.append(self.closing)
        return events

    def finish(self) -> None:
        """The socket is gone (closed by either side): the connection is over."""
        self.state = ConnectionState.CLOSED
        self.subscriptions = _NONE

    # --- incoming -------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> list[Event]:
        """Handle one inbound text frame received at ``now`` (monotonic seconds)."""
        if self.state is not ConnectionState.OPEN:
            return []
        self.received += 1
        if not self._take_token(now):
            return self.close(
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

    def _message(self, msg: Any) -> list[Event]:
        if type(msg) is not dict:
            return self._error(
                error_message(ErrorCode.INVALID_MESSAGE, f"a message must be a JSON object, got {type(msg).__name__}")
            )
        kind = msg.get("type")
        rid = req.request_id(msg)
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
        except req.Invalid as exc:
            return self._error(error_message(exc.code, exc.message, id=rid, **exc.extra))

    def _ping(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        return [Send(pong(rid))]

    def _check_topics(self, names: list[str], rid: str | int | None) -> tuple[list[str], list[Event]]:
        events: list[Event] = []
        for t in names:
            if t not in self.topics:
                self.errors += 1
                events.append(Send(error_message(
                    ErrorCode.UNKNOWN_TOPIC, f"unknown topic {t!r}; known: {', '.join(self.topics)}", id=rid, topic=t,
                )))
        for t in names:
            if t in self.topics and not self._allowed(t):
                self.errors += 1
                events.append(Send(error_message(
                    ErrorCode.FORBIDDEN_TOPIC, f"the token does not allow topic {t!r}", id=rid, topic=t,
                )))
        return [t for t in names if t in self.topics and self._allowed(t)], events

    def _subscribe(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        topics = req.string_list(msg, "topics", self.limits.max_topics, required=True) or []
        symbols = req.string_list(msg, "symbols", self.limits.max_symbols, required=False)
        max_rate = req.max_rate(msg)
        epoch = msg.get("epoch")
        if epoch is not None and (type(epoch) is not str or len(epoch) > 64):
            raise req.Invalid(ErrorCode.INVALID_FIELD, f"'epoch' must be a string, got {epoch!r:.60}", field="epoch")
        since = req.since(msg, epoch)
        rewind = req.rewind(msg)
        known, events = self._check_topics(topics, rid)
        if known:
            self.subscriptions = self.subscriptions.union(known)
            events.append(Subscribe(
                tuple(known), frozenset(symbols) if symbols is not None else None, max_rate, epoch,
                {t: s for t, s in since.items() if t in known}, rid, rewind,
            ))
        return events

    def _unsubscribe(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        topics = req.string_list(msg, "topics", self.limits.max_topics, required=True) or []
        known, events = self._check_topics(topics, rid)
        if known:
            self.subscriptions = self.subscriptions.difference(known)
            events.append(Unsubscribe(tuple(known)))
            reply: dict[str, Any] = {"type": "unsubscribed", "topics": known}
            if rid is not None:
                reply["id"] = rid
            events.append(Send(reply))
        return events

    def _auth(self, msg: dict[str, Any], rid: str | int | None) -> list[Event]:
        token = msg.get("token")
        if type(token) is not str or not token:
            raise req.Invalid(ErrorCode.INVALID_FIELD, "'token' must be a non-empty string", field="token")
        if self.verify is None:
            raise req.Invalid(ErrorCode.INVALID_MESSAGE, "this server does not use tokens")
        try:
            grant = self.verify(token)
        except AuthError as exc:  # a refused refresh ends the connection, as a refused connect does
            return self.close(CloseCode.UNAUTHORIZED, error_message(_auth_code(exc), exc.message, id=rid))
        self.grant = grant
        events: list[Event] = []
        revoked = tuple(t for t in self.subscriptions if not grant.allows(t))
        if revoked:
            self.subscriptions = self.subscriptions.difference(revoked)
            events.append(Unsubscribe(revoked))
        reply: dict[str, Any] = {"type": "authenticated", "expires_at": grant.expires_at}
        if revoked:
            reply["unsubscribed"] = list(revoked)
        if rid is not None:
            reply["id"] = rid
        events.append(Send(reply))
        return events


def _auth_code(error: AuthError) -> ErrorCode:
    return ErrorCode(error.code) if error.code in _AUTH_CODES else ErrorCode.INVALID_TOKEN


_AUTH_CODES = frozenset({ErrorCode.AUTH_REQUIRED, ErrorCode.INVALID_TOKEN, ErrorCode.TOKEN_EXPIRED})

_HANDLERS: dict[str, Callable[[Connection, dict[str, Any], Any], list[Event]]] = {
    "subscribe": Connection._subscribe,
    "unsubscribe": Connection._unsubscribe,
    "ping": Connection._ping,
    "auth": Connection._auth,
}
