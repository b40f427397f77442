"""The seam between pipelines and clients: topics with sequence numbers, an epoch and history.

Pipelines publish values to a :class:`Bus`; the WebSocket broadcaster (or any
other consumer) subscribes to it. The bus assigns each message its per-topic
``seq`` exactly once, serializes it exactly once (``Message.payload`` holds
the finished ``{"type": "data", ...}`` JSON shared by every client), and keeps
what a reconnecting client needs:

* **state** topics (prices, positions) keep the latest message per key, served
  as a snapshot on subscribe;
* **lossless** topics (trades, signals) keep the last ``history`` messages in a
  ring buffer, from which a client resumes after a disconnect.

The ``epoch`` changes whenever the sequence numbering restarts (a new bus,
i.e. a server restart), so a client can tell its ``seq`` no longer applies.

:class:`InMemoryBus` is the one implementation today; a distributed bus (Redis,
NATS) would implement the same :class:`Bus` protocol.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from .events import dumps

__all__ = ["Bus", "InMemoryBus", "Message", "TopicPolicy", "TopicSpec"]

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
            raise ValueError(f"topic {self.name!r}: a state topic needs a key function")


@dataclass(frozen=True, slots=True)
class Message:
    """One published value with its topic, sequence number and serialized form."""

    topic: str
    seq: int
    epoch: str
    time: datetime
    key: Hashable | None
    value: Any
    payload: bytes = field(repr=False)

    @property
    def data(self) -> Any:
        """The JSON-ready body (events become dicts)."""
        return _body(self.value)


def _body(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


class Bus(Protocol):
    """What a bus offers to publishers and to the broadcaster."""

    epoch: str

    def declare(self, spec: TopicSpec) -> None:
        """Create a topic (idempotent for the same spec)."""

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """Declared topics by name."""

    def publish(self, topic: str, value: Any) -> Message:
        """Assign the next seq, serialize, keep for snapshot/resume and deliver to subscribers."""

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``listener`` with every message; returns a function that unsubscribes."""

    def last_seq(self, topic: str) -> int:
        """The seq of the last message on ``topic`` (0 before the first)."""

    def snapshot(self, topic: str) -> list[Message]:
        """For a state topic, the latest message per key, in seq order."""

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Messages after ``seq``, or ``None`` when some of them left the history."""


class InMemoryBus:
    """A single-process :class:`Bus`; not thread-safe, use it from the engine's loop."""

    def __init__(self, *, epoch: str | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._topics: dict[str, TopicSpec] = {}
        self._seq: dict[str, int] = {}
        self._history: dict[str, deque[Message]] = {}
        self._latest: dict[str, dict[Hashable, Message]] = {}
        self._listeners: list[Callable[[Message], None]] = []

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """Declared topics by name."""
        return dict(self._topics)

    def declare(self, spec: TopicSpec) -> None:
        """Create a topic; declaring the same name twice with another spec is an error."""
        existing = self._topics.get(spec.name)
        if existing is not None:
            if existing != spec:
                raise ValueError(f"topic {spec.name!r} is already declared differently")
            return
        self._topics[spec.name] = spec
        self._seq[spec.name] = 0
        self._history[spec.name] = deque(maxlen=spec.history)
        self._latest[spec.name] = {}

    def publish(self, topic: str, value: Any) -> Message:
        """Number, serialize once, keep and deliver ``value`` on ``topic``."""
        spec = self._topics[topic]
        seq = self._seq[topic] + 1
        self._seq[topic] = seq
        now = self._clock()
        key = spec.key(value) if spec.key is not None else None
        payload = dumps(
            {"type": "data", "topic": topic, "seq": seq, "epoch": self.epoch, "time": now, "data": _body(value)}
        )
        message = Message(topic, seq, self.epoch, now, key, value, payload)
        self._history[topic].append(message)
        if spec.policy == "state":
            latest = self._latest[topic]
            latest.pop(key, None)  # re-insert so dict order stays seq order
            latest[key] = message
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:  # one consumer's bug must not starve the others
                log.exception("bus listener %r failed on %s #%d", listener, topic, seq)
        return message

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Deliver every future message to ``listener`` until the returned function is called."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def last_seq(self, topic: str) -> int:
        """The seq of the last message on ``topic`` (0 before the first)."""
        return self._seq[topic]

    def snapshot(self, topic: str) -> list[Message]:
        """The latest message per key of a state topic, oldest first."""
        return list(self._latest[topic].values())

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Messages after ``seq``; ``None`` if the history no longer reaches back that far."""
        last = self._seq[topic]
        if seq >= last:
            return [] if seq == last else None
        history = self._history[topic]
        if not history or history[0].seq > seq + 1:
            return None
        start = seq + 1 - history[0].seq
        return [history[i] for i in range(start, len(history))]
