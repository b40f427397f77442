"""A topic's shared log, and one client's subscription to it with its cursor, filter and rate gate.

Every message of a topic is appended once to its :class:`TopicLog`. A subscription with
neither a symbol filter nor a ``max_rate`` (a *reader*) owns no queue: it keeps a
cursor (``position``, the last seq handed to its client) and reads the log from
there, so clients at the same position share the very same frame bytes. A filtered
or rate-limited subscription is fed message by message into its client's outbox.

``delivered`` is the last seq of a lossless topic surely handed to the operating
system for the client: everything up to it reaches the client before any close,
so it is where the client will resume from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from datetime import timedelta
from itertools import islice
from typing import Any

from reactivex.abc import DisposableBase, SchedulerBase

from ..bus import Message
from .outbox import Entry

__all__ = ["RateGate", "Subscription", "TopicLog"]


class TopicLog:
    """The last ``size`` messages of one topic and when each reached the gateway, shared by its readers."""

    __slots__ = ("arrived", "last_seq", "messages", "policy", "topic")

    def __init__(self, topic: str, policy: str, size: int, last_seq: int = 0) -> None:
        self.topic = topic
        self.policy = policy
        self.messages: deque[Message] = deque(maxlen=size)
        self.arrived: deque[float] = deque(maxlen=size)
        self.last_seq = last_seq

    def append(self, message: Message, now: float) -> None:
        """Add the topic's next message."""
        self.messages.append(message)
        self.arrived.append(now)
        self.last_seq = message.seq

    def after(self, seq: int) -> tuple[list[Message], float] | None:
        """The messages after ``seq`` and when the oldest arrived; ``None`` if some already left the log."""
        n = self.last_seq - seq
        if n <= 0:
            return [], 0.0
        messages = self.messages
        if n > len(messages) or messages[-n].seq != seq + 1:
            return None
        tail = list(islice(reversed(messages), n))
        tail.reverse()
        return tail, self.arrived[-n]


class RateGate:
    """``max_rate`` for one state subscription: per key, one message per interval, the latest always sent.

    A message that comes too early is held (a newer one replaces it) and released by a
    timer on ``scheduler`` at the end of the interval, through ``release(key, entry)``.
    """

    __slots__ = ("held", "interval", "last_sent", "release", "timers")

    def __init__(self, max_rate: float, release: Callable[[tuple[str, Hashable], Entry], None]) -> None:
        self.interval = timedelta(seconds=1.0 / max_rate)
        self.release = release
        self.last_sent: dict[Hashable, Any] = {}
        self.held: dict[tuple[str, Hashable], Entry] = {}
        self.timers: dict[tuple[str, Hashable], DisposableBase] = {}

    def admit(self, key: tuple[str, Hashable], entry: Entry, scheduler: SchedulerBase) -> bool:
        """Whether ``entry`` may go now; otherwise it is held (the latest wins) and a release is scheduled.

        Returns ``False`` without holding anything new when the entry replaced a held one
        (the caller counts it as conflated through :attr:`replaced`).
        """
        now = scheduler.now
        last = self.last_sent.get(key)
        if last is None or now - last >= self.interval:
            self.last_sent[key] = now
            return True
        self.held[key] = entry
        if key not in self.timers:
            def flush(sch: SchedulerBase, _state: Any, key: tuple[str, Hashable] = key) -> None:
                self._release(key, sch)

            self.timers[key] = scheduler.schedule_relative(last + self.interval - now, flush)
        return False

    def holds(self, key: tuple[str, Hashable]) -> bool:
        """Whether an entry of ``key`` is being held."""
        return key in self.held

    def _release(self, key: tuple[str, Hashable], scheduler: SchedulerBase) -> None:
        self.timers.pop(key, None)
        entry = self.held.pop(key, None)
        if entry is not None:
            self.last_sent[key] = scheduler.now
            self.release(key, entry)

    def cancel(self) -> None:
        """Drop what is held and every pending timer."""
        for timer in self.timers.values():
            timer.dispose()
        self.timers.clear()
        self.held.clear()


class Subscription:
    """One client's subscription to one topic: options, cursor and, when rate-limited, its gate."""

    __slots__ = ("delivered", "gate", "max_rate", "policy", "position", "symbols", "topic")

    def __init__(
        self, topic: str, policy: str, symbols: frozenset[str] | None, max_rate: float | None, position: int
    ) -> None:
        self.topic = topic
        self.policy = policy
        self.symbols = symbols
        self.max_rate = max_rate if policy == "state" else None
        self.position = position
        self.delivered = position
        self.gate: RateGate | None = None

    @property
    def reader(self) -> bool:
        """Whether it reads the shared log (no symbol filter, no rate gate)."""
        return self.symbols is None and self.max_rate is None

    def wants(self, symbol: str | None) -> bool:
        """Whether a message with ``symbol`` passes the symbol filter (no symbol always passes)."""
        return self.symbols is None or symbol is None or symbol in self.symbols

    def cancel(self) -> None:
        """Stop the rate gate's timers."""
        if self.gate is not None:
            self.gate.cancel()
