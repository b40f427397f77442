"""A client's pending messages: :class:`Entry` and the :class:`Outbox` that conflates state keys.

Only what cannot be read from a topic's shared log waits here: control messages,
snapshots and resumed messages, and the messages of subscriptions with a symbol
filter or a ``max_rate``. An outbox is created the first time a client needs one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import NamedTuple

__all__ = ["Entry", "Outbox"]


class Entry(NamedTuple):
    """Bytes to send and what they hold."""

    payload: bytes
    """One message, or several joined by commas (to be wrapped in a JSON array)."""
    topic: str | None
    """The data topic, or ``None`` for a control message (welcome, subscribed, snapshot, error...)."""
    seq: int
    """The last seq of ``topic`` in ``payload`` (0 for control messages)."""
    enqueued: float
    """When the oldest message in it reached the gateway (monotonic seconds)."""
    messages: int = 1
    """How many messages ``payload`` holds."""


class Outbox:
    """A client's bounded queue of entries, in send order.

    Lossless and control entries are counted against ``limit`` (control ones may be
    forced past it). State entries are queued as they come while fewer than ``conflate_at``
    entries wait (a client that keeps up sees every update); past that they are keyed by
    ``(topic, key)`` and a newer one replaces the older, moving to the end so seq order holds.
    ``conflated`` counts the replaced ones per topic.
    """

    __slots__ = ("_next", "_pending", "conflate_at", "conflated", "limit", "lossless")

    def __init__(self, limit: int, conflated: dict[str, int] | None = None, conflate_at: int = 0) -> None:
        self._pending: dict[Hashable, Entry] = {}
        self._next = 0
        self.limit = limit
        self.conflate_at = conflate_at
        self.lossless = 0
        self.conflated: dict[str, int] = conflated if conflated is not None else {}

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, entry: Entry, *, force: bool = False) -> bool:
        """Queue a lossless/control entry; ``False`` (not queued) when over the limit."""
        if self.lossless >= self.limit and not force:
            return False
        self._next += 1
        self._pending[self._next] = entry
        self.lossless += 1
        return True

    def put_latest(self, key: tuple[str, Hashable], entry: Entry) -> None:
        """Queue a state entry, replacing a pending one of the same key when the client is behind."""
        pending = self._pending
        if len(pending) < self.conflate_at:
            self._next += 1
            pending[self._next] = entry
            return
        if pending.pop(key, None) is not None:
            topic = key[0]
            self.conflated[topic] = self.conflated.get(topic, 0) + 1
        pending[key] = entry

    def take(self) -> list[Entry]:
        """Everything queued, oldest first; the outbox is empty afterwards."""
        if not self._pending:
            return []
        entries = list(self._pending.values())
        self._pending = {}
        self.lossless = 0
        return entries

    def drop_topic(self, topic: str) -> int:
        """Remove the pending entries of ``topic``; how many."""
        keep = {k: e for k, e in self._pending.items() if e.topic != topic}
        dropped = len(self._pending) - len(keep)
        self.lossless = min(self.lossless, len(keep))  # an upper bound: drops are rare (unsubscribe)
        self._pending = keep
        return dropped

    def topics(self) -> Iterator[str | None]:
        """The topic of each pending entry (for metrics on discard)."""
        return (e.topic for e in self._pending.values())
