"""Slow consumers on lossless topics: when a client is too far behind, and how it is closed.

A client may fall :meth:`SlowConsumers.after` messages behind on a lossless topic: the smaller
of ``queue_limit`` and half the topic's history. "Behind" counts from the last message surely
handed to the operating system for it (``Subscription.delivered``), which is the point it will
resume from. Past that it is closed with 4008 at once, so its resume point is still in the
history, with at least half of the window left for it to reconnect in, whatever the settings.
The close is the protocol's (:meth:`~rxstream.gateway.protocol.Connection.slow_consumer`),
logged at INFO with the connection id and the topic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..bus import Bus
from .channel import Channel
from .logs import TopicLogs
from .metrics import GatewayMetrics
from .protocol import Limits, Send, encode
from .subscription import Subscription

__all__ = ["SlowConsumers"]

log = logging.getLogger(__name__)


class SlowConsumers:
    """Finds and closes clients too far behind on a lossless topic.

    ``leave(channel, error)`` is called when one is closed: its subscriptions end there.
    """

    __slots__ = ("_bus", "_leave", "_limits", "_logs", "_metrics")

    def __init__(self, bus: Bus, logs: TopicLogs, limits: Limits, metrics: GatewayMetrics,
                 leave: Callable[[Channel, dict[str, Any]], None]) -> None:
        self._bus = bus
        self._logs = logs
        self._limits = limits
        self._metrics = metrics
        self._leave = leave

    def after(self, topic: str) -> int:
        """Messages a client may fall behind on lossless ``topic`` before it is closed as slow."""
        return max(1, min(self._limits.queue_limit, self._bus.topics[topic].history // 2))

    def check(self, channel: Channel) -> None:
        """Close ``channel`` if one of its lossless log readers is too far behind."""
        channel.refresh_delivered()
        for sub in list(channel.subscriptions.values()):
            if sub.policy == "lossless" and sub.reader:
                if self._logs[sub.topic].last_seq - sub.delivered > self.after(sub.topic):
                    self.close(channel, sub)
                    return

    def close(self, channel: Channel, sub: Subscription) -> None:
        """Close ``channel`` as slow on ``sub``'s topic: its error goes out behind what was written."""
        backlog = self._logs[sub.topic].last_seq - sub.delivered
        events = channel.connection.slow_consumer(sub.topic, backlog)
        if not events:
            return
        log.info("connection %s closed as slow on %s: %d messages behind, resumes after seq %d",
                 channel.id, sub.topic, backlog, sub.delivered)
        self._metrics.disconnects_total.labels("slow_consumer").inc()
        for s in channel.subscriptions.values():
            if s.reader and s.policy == "lossless":
                self._metrics.discarded[s.topic] += max(0, self._logs[s.topic].last_seq - s.position)
        error = next(e.message for e in events if isinstance(e, Send))
        self._leave(channel, error)
        channel.close_now(encode(error))
