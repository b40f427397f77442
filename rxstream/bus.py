"""The seam between pipelines and clients: topics with sequence numbers, an epoch and history.

Pipelines publish values to a :class:`Bus`; the WebSocket broadcaster (or any
other consumer) subscribes to it. The bus assigns each message its per-topic
``seq`` exactly once and encodes it exactly once with the :data:`~rxstream.wire.DataEncoder`
it was handed (``Message.payload`` holds the finished bytes shared by every
client; the bus itself knows no wire format), and keeps what a reconnecting
client needs:

* **state** topics (prices, positions) keep the latest message per key, served
  as a snapshot on subscribe;
* **lossless** topics (trades, signals) keep the last ``history`` messages in a
  ring buffer, from which a client resumes after a disconnect (:meth:`Bus.since`)
  or rewinds on subscribe (:meth:`Bus.recent`).

The ``epoch`` changes whenever the sequence numbering restarts (a new bus,
i.e. a server restart), so a client can tell its ``seq`` no longer applies.

:class:`InMemoryBus` is the embedded implementation; a bus shared between
processes implements the same :class:`Bus` protocol. A consumer relies only on a
:class:`Message`'s ``topic``, ``seq``, ``epoch``, ``time``, ``key``, ``symbol`` and
``payload``: ``value`` is absent on a bus fed from another process.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import orjson

from .errors import ConfigError
from .wire import DataEncoder, encode_data

__all__ = [
    "Bus",
    "InMemoryBus",
    "Listeners",
    "Message",
    "TopicPolicy",
    "TopicSpec",
    "messages_since",
    "recent_messages",
    "symbol_of",
]

log = logging.getLogger(__name__)

TopicPolicy = Literal["state", "lossless"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How a topic is kept: ``state`` (latest per key) or ``lossless`` (ring buffer)."""

    name: str
    policy: TopicPolicy = "lossless"
    key: Callable[[Any], Hashable] | None = None
    history: int = 1000

    def __post_init__(self) -> None:
        if self.policy == "state" and self.key is None:
            raise ConfigError(f"topic {self.name}", "a state topic needs a key function")
        if type(self.history) is not int or self.history < 1:
            raise ConfigError(f"topic {self.name}", f"history must be an integer >= 1, got {self.history!r}")


@dataclass(frozen=True, slots=True)
class Message:
    """One published value: its place (topic, seq, epoch), time, key, symbol and encoded form.

    ``payload`` is the finished ``data`` message; ``value`` is the published object when the
    bus is in this process (``None`` on a bus fed from elsewhere).
    """

    topic: str
    seq: int
    epoch: str
    time: datetime
    key: Hashable | None
    payload: bytes = field(repr=False)
    symbol: str | None = None
    value: Any = field(default=None, repr=False)

    @property
    def data(self) -> Any:
        """The JSON-ready body (events become dicts), decoded from ``payload`` when ``value`` is absent."""
        if self.value is not None:
            return _body(self.value)
        return orjson.loads(self.payload).get("data")


def _body(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


def symbol_of(value: Any) -> str | None:
    """The ``symbol`` of an event or a mapping, if it has a string one (for symbol filters)."""
    symbol = getattr(value, "symbol", None)
    if symbol is None and isinstance(value, dict):
        symbol = value.get("symbol")
    return symbol if isinstance(symbol, str) else None


class Listeners:
    """The functions a bus calls with each message; one listener's bug never costs the others a message."""

    __slots__ = ("_functions",)

    def __init__(self) -> None:
        self._functions: list[Callable[[Message], None]] = []

    def add(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``listener`` with every message until the returned function is called."""
        self._functions.append(listener)

        def remove() -> None:
            if listener in self._functions:
                self._functions.remove(listener)

        return remove

    def deliver(self, message: Message) -> None:
        """Hand ``message`` to every listener, logging (not raising) what one of them raises."""
        for listener in list(self._functions):
            try:
                listener(message)
            except Exception:  # one consumer's bug must not starve the others
                log.exception("bus listener %r failed on %s #%d", listener, message.topic, message.seq)


def messages_since(window: deque[Message], last: int, seq: int) -> list[Message] | None:
    """The messages of ``window`` after ``seq`` (``last`` is the topic's last seq); ``None`` when some
    of them already left the window, or ``seq`` is ahead of the topic."""
    if seq >= last:
        return [] if seq == last else None
    if not window or window[0].seq > seq + 1:
        return None
    start = seq + 1 - window[0].seq
    return [window[i] for i in range(start, len(window))]


def recent_messages(
    window: deque[Message], now: datetime, *, count: int | None = None, seconds: float | None = None
) -> list[Message]:
    """The last ``count`` messages of ``window``, or those stamped in the last ``seconds`` before
    ``now``; oldest first. Exactly one of ``count`` and ``seconds`` is given."""
    if (count is None) == (seconds is None):
        raise ConfigError("rewind", "give exactly one of count and seconds")
    if count is not None:
        n = min(max(count, 0), len(window))
        return [window[i] for i in range(len(window) - n, len(window))]
    assert seconds is not None
    cutoff = now - timedelta(seconds=seconds)
    out: list[Message] = []
    for message in reversed(window):
        if message.time < cutoff:
            break
        out.append(message)
    out.reverse()
    return out


class Bus(Protocol):
    """What a bus offers to publishers and to the broadcaster."""

    epoch: str

    def declare(self, spec: TopicSpec) -> None:
        """Create a topic (idempotent for the same spec)."""

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """Declared topics by name."""

    def publish(self, topic: str, value: Any) -> Message:
        """Assign the next seq, encode once, keep for snapshot/resume and deliver to subscribers."""

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``listener`` with every message; returns a function that unsubscribes."""

    def last_seq(self, topic: str) -> int:
        """The seq of the last message on ``topic`` (0 before the first)."""

    def snapshot(self, topic: str) -> list[Message]:
        """For a state topic, the latest message per key, in seq order."""

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Messages after ``seq``, or ``None`` when some of them left the history."""

    def recent(self, topic: str, *, count: int | None = None, seconds: float | None = None) -> list[Message]:
        """The last ``count`` messages, or those of the last ``seconds``, still in the history; oldest first."""


class InMemoryBus:
    """A single-process :class:`Bus`; not thread-safe, use it from the engine's loop.

    ``encoder`` turns each message into its wire bytes (default: the WebSocket ``data``
    message, :func:`rxstream.wire.encode_data`); ``clock`` stamps messages (default: UTC now).
    """

    def __init__(
        self,
        *,
        epoch: str | None = None,
        clock: Callable[[], datetime] | None = None,
        encoder: DataEncoder = encode_data,
    ) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._encode = encoder
        self._topics: dict[str, TopicSpec] = {}
        self._seq: dict[str, int] = {}
        self._history: dict[str, deque[Message]] = {}
        self._latest: dict[str, dict[Hashable, Message]] = {}
        self._listeners = Listeners()

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """Declared topics by name."""
        return dict(self._topics)

    def declare(self, spec: TopicSpec) -> None:
        """Create a topic; declaring the same name twice with another spec is an error."""
        existing = self._topics.get(spec.name)
        if existing is not None:
            if existing != spec:
                raise ConfigError(f"topic {spec.name}", "already declared differently")
            return
        self._topics[spec.name] = spec
        self._seq[spec.name] = 0
        self._history[spec.name] = deque(maxlen=spec.history)
        self._latest[spec.name] = {}

    def publish(self, topic: str, value: Any) -> Message:
        """Number, encode once, keep and deliver ``value`` on ``topic``."""
        spec = self._topics[topic]
        seq = self._seq[topic] + 1
        self._seq[topic] = seq
        now = self._clock()
        key = spec.key(value) if spec.key is not None else None
        payload = self._encode(topic, seq, self.epoch, now, _body(value))
        message = Message(topic, seq, self.epoch, now, key, payload, symbol_of(value), value)
        self._history[topic].append(message)
        if spec.policy == "state":
            latest = self._latest[topic]
            latest.pop(key, None)  # re-insert so dict order stays seq order
            latest[key] = message
        self._listeners.deliver(message)
        return message

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Deliver every future message to ``listener`` until the returned function is called."""
        return self._listeners.add(listener)

    def last_seq(self, topic: str) -> int:
        """The seq of the last message on ``topic`` (0 before the first)."""
        return self._seq[topic]

    def snapshot(self, topic: str) -> list[Message]:
        """The latest message per key of a state topic, oldest first."""
        return list(self._latest[topic].values())

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Messages after ``seq``; ``None`` if the history no longer reaches back that far."""
        return messages_since(self._history[topic], self._seq[topic], seq)

    def recent(self, topic: str, *, count: int | None = None, seconds: float | None = None) -> list[Message]:
        """The last ``count`` messages of ``topic``, or those stamped in the last ``seconds``; oldest first.

        Exactly one of ``count`` and ``seconds`` is given; the answer never reaches past the history.
        """
        return recent_messages(self._history[topic], self._clock(), count=count, seconds=seconds)
