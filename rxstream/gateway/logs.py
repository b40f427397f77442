"""The shared log of every subscribed topic, and how a reader's cursor turns into entries to send.

A reader (a subscription with no symbol filter and no ``max_rate``) is due the messages of its
topic after its cursor. :meth:`TopicLogs.read` cuts them into entries of at most ``max_batch``
messages, cached per ``(topic, cursor)`` within one flush so that every reader at the same
place gets the same bytes; a state reader further behind than one frame gets the latest message
per key instead (the rest counted as conflated).
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping

from ..bus import Bus
from .outbox import Entry
from .subscription import Subscription, TopicLog

__all__ = ["ReadCache", "TopicLogs"]

ReadCache = dict[tuple[str, int], list[Entry] | None]
"""Entries already cut in this flush, by ``(topic, cursor)``."""


class TopicLogs:
    """One :class:`TopicLog` per topic that has had a subscriber, sized to the topic's history."""

    __slots__ = ("_bus", "_conflated", "_logs", "max_batch")

    def __init__(self, bus: Bus, max_batch: int, conflated: MutableMapping[str, int]) -> None:
        self._bus = bus
        self.max_batch = max_batch
        self._conflated = conflated
        self._logs: dict[str, TopicLog] = {}

    def __getitem__(self, topic: str) -> TopicLog:
        return self._logs[topic]

    def get(self, topic: str) -> TopicLog | None:
        """The log of ``topic``, if it has one."""
        return self._logs.get(topic)

    def open(self, topic: str) -> TopicLog:
        """The log of ``topic``, created at the bus's last seq on its first subscriber."""
        topic_log = self._logs.get(topic)
        if topic_log is None:
            spec = self._bus.topics[topic]
            size = max(spec.history, self.max_batch * 2)
            topic_log = self._logs[topic] = TopicLog(topic, spec.policy, size, self._bus.last_seq(topic))
        return topic_log

    def read(self, sub: Subscription, cache: ReadCache | None) -> list[Entry] | None:
        """What a reader is due after its cursor, moving the cursor to the end of the log;
        ``None`` when a lossless reader's next message already left the log."""
        topic_log = self._logs[sub.topic]
        last = topic_log.last_seq
        if sub.position >= last:
            return []
        key = (sub.topic, sub.position)
        entries = cache.get(key) if cache is not None else None
        if entries is None:
            entries = self._cut(topic_log, sub.position)
            if cache is not None:
                cache[key] = entries
        if entries is None:
            if sub.policy == "lossless":
                return None
            entries = self._latest(sub, last)
        elif sub.policy == "state" and sum(e.messages for e in entries) > self.max_batch:
            entries = self._latest(sub, last)
        sub.position = last
        return entries

    def due(self, sub: Subscription) -> int:
        """How many messages a reader is behind (for a state reader, at most one frame's worth)."""
        backlog = self._logs[sub.topic].last_seq - sub.position
        return min(backlog, self.max_batch) if sub.policy == "state" else backlog

    def _cut(self, topic_log: TopicLog, after: int) -> list[Entry] | None:
        found = topic_log.after(after)
        if found is None:
            return None
        messages, arrived = found
        step, topic = self.max_batch, topic_log.topic
        return [
            Entry(b",".join([m.payload for m in chunk]), topic, chunk[-1].seq, arrived, len(chunk))
            if len(chunk) > 1 else Entry(chunk[0].payload, topic, chunk[0].seq, arrived)
            for chunk in (messages[i:i + step] for i in range(0, len(messages), step))
        ]

    def _latest(self, sub: Subscription, last: int) -> list[Entry]:
        latest = [m for m in self._bus.snapshot(sub.topic) if m.seq > sub.position]
        self._conflated[sub.topic] = self._conflated.get(sub.topic, 0) + max(0, last - sub.position - len(latest))
        now = time.monotonic()
        return [Entry(m.payload, sub.topic, m.seq, now) for m in latest]
