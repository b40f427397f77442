"""Fan-out from the bus to connected clients: one shared log per topic, frames shared, writes coalesced.

::

    bus.publish ──▶ Broadcaster._on_message ──▶ TopicLog (one per topic) ◀── readers' cursors
                                       │                                        │ once per loop turn
                                       └─▶ filtered / max_rate subscriptions ─▶ Outbox ─▶ Channel.write ─▶ Sink

* Every message's bytes come from the bus (``Message.payload``, encoded once) and are shared;
  a subscription with no symbol filter and no ``max_rate`` reads its topic's log from its
  cursor, so every client at the same position is sent the very same frame object.
* Writes happen once per loop turn (a burst of messages becomes one frame per client), and
  synchronously while the client's transport keeps up: no task per client. A reader due one
  frame of one topic and nothing else (the common case) costs one write: the frame, its
  WebSocket header and the metrics are done once for all such clients (:meth:`Broadcaster.flush`).
* **State** topics are conflated per key for a client that is behind: it gets the latest value
  per key, never a backlog.
* **Lossless** topics are never dropped silently: a client too far behind is closed as slow
  (:attr:`~CloseCode.SLOW_CONSUMER`, 4008) while the point it resumes from is still in the
  history (the rule and the close: :mod:`rxstream.gateway.slow`).
* ``max_rate`` holds back a state key's update until ``1/max_rate`` s after the last one
  sent, then sends the latest, on the given reactivex scheduler (virtual time in tests).

Every server message is built by :mod:`rxstream.gateway.protocol`; every close is decided by
its :class:`~rxstream.gateway.protocol.Connection`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any

from reactivex.abc import SchedulerBase

from ..bus import Bus, Message
from .channel import Channel, Sink
from .logs import ReadCache, TopicLogs
from .metrics import GatewayMetrics
from .outbox import Entry
from .protocol import (
    Close,
    CloseCode,
    Connection,
    ConnectionState,
    Event,
    Limits,
    Send,
    Subscribe,
    Unsubscribe,
    encode,
)
from .resume import start
from .shared import SharedFrames
from .slow import SlowConsumers
from .subscription import RateGate, Subscription

__all__ = ["Broadcaster", "Channel", "Entry", "Sink"]

log = logging.getLogger(__name__)


class Broadcaster:
    """Delivers bus messages to channels by topic, with shared logs, per-client outboxes and policies.

    Events: none; it writes to each :class:`Sink` and counts into :class:`GatewayMetrics`.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        scheduler: SchedulerBase | None = None,
        limits: Limits | None = None,
        metrics: GatewayMetrics | None = None,
        close_timeout: float = 5.0,
    ) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.limits = limits or Limits()
        self.metrics = metrics or GatewayMetrics()
        self.close_timeout = close_timeout
        self.channels: dict[str, Channel] = {}
        self.logs = TopicLogs(bus, self.limits.max_batch, self.metrics.conflated)
        self.slow = SlowConsumers(bus, self.logs, self.limits, self.metrics, self._leave)
        self._shared = SharedFrames(self.logs, self.limits.max_batch, self.metrics, self.slow)
        self._readers: dict[str, dict[Channel, Subscription]] = {}
        self._others: dict[str, dict[Channel, Subscription]] = {}
        self._dirty: set[Channel] = set()
        self._dirty_topics: set[str] = set()
        self._flush_pending = False
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Begin receiving the bus's messages."""
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe(self._on_message)

    async def stop(self, reason: str = "server shutting down") -> None:
        """Close every channel with 1001 and stop receiving from the bus."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        channels = list(self.channels.values())
        for channel in channels:
            self.execute(channel, channel.connection.going_away(reason))
        if channels:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in channels],
                               timeout=self.close_timeout + 1)

    def connect(self, connection: Connection, sink: Sink) -> Channel:
        """Register a client and send its ``welcome``."""
        channel = Channel(
            connection, sink, metrics=self.metrics, max_batch=self.limits.max_batch,
            queue_limit=self.limits.queue_limit, close_timeout=self.close_timeout,
            on_writable=self._mark, on_finished=self._forget,
        )
        self.channels[channel.id] = channel
        self.metrics.connections_total.inc()
        channel.write([Entry(encode(connection.welcome()), None, 0, time.monotonic())])
        return channel

    def refuse(self, connection: Connection, sink: Sink, events: list[Event]) -> Channel:
        """Carry out a refusal (:meth:`Connection.refuse_full`, :meth:`Connection.refuse_token`) on a
        connection that is never registered: say why, then close."""
        channel = Channel(
            connection, sink, metrics=self.metrics, max_batch=self.limits.max_batch, queue_limit=1,
            close_timeout=self.close_timeout, on_writable=lambda c: c.close_when_sent(), on_finished=lambda c: None,
        )
        for event in events:
            if isinstance(event, Send):
                self._count_error(event.message)
                channel.write([Entry(encode(event.message), None, 0, time.monotonic())])
        channel.close_when_sent()
        return channel

    def disconnect(self, channel: Channel, reason: str = "client") -> None:
        """The socket is gone: forget the client and stop whatever it was doing."""
        if channel.id in self.channels and channel.connection.closing is None:
            self.metrics.disconnects_total.labels(reason).inc()
        channel.finish()

    def _forget(self, channel: Channel) -> None:
        for topic in list(channel.subscriptions):
            self._drop(channel, topic)
        self._dirty.discard(channel)
        self.channels.pop(channel.id, None)

    # --- protocol events ----------------------------------------------------------------

    def execute(self, channel: Channel, events: list[Event]) -> None:
        """Carry out what the protocol core decided, in order."""
        for event in events:
            if isinstance(event, Send):
                self._send(channel, event.message)
            elif isinstance(event, Subscribe):
                self._subscribe(channel, event)
            elif isinstance(event, Unsubscribe):
                for topic in event.topics:
                    self._drop(channel, topic)
            elif isinstance(event, Close):
                self._closing(channel, event)
        self._mark(channel)

    def _closing(self, channel: Channel, close: Close) -> None:
        reason = {CloseCode.RATE_LIMITED: "rate_limited", CloseCode.SLOW_CONSUMER: "slow_consumer",
                  CloseCode.GOING_AWAY: "going_away"}.get(CloseCode(close.code), f"close_{close.code}")
        self.metrics.disconnects_total.labels(reason).inc()
        self._materialize(channel)
        for topic in list(channel.subscriptions):
            self._drop(channel, topic, keep_queued=True)

    def _count_error(self, message: dict[str, Any]) -> None:
        if message.get("type") == "error":
            self.metrics.errors_sent.labels(message["code"]).inc()

    def _send(self, channel: Channel, message: dict[str, Any] | bytes) -> None:
        """Queue a control message behind everything the client is due so far."""
        if isinstance(message, dict):
            self._count_error(message)
            message = encode(message)
        self._materialize(channel)
        channel.queue(Entry(message, None, 0, time.monotonic()), force=True)

    def _leave(self, channel: Channel, message: dict[str, Any]) -> None:
        """A slow consumer leaves: no more data for it; ``message`` (its error) is counted."""
        for topic in list(channel.subscriptions):
            self._drop(channel, topic, keep_queued=True)
        self._count_error(message)

    def _drop(self, channel: Channel, topic: str, *, keep_queued: bool = False) -> None:
        sub = channel.subscriptions.pop(topic, None)
        if sub is None:
            return
        sub.cancel()
        for table in (self._readers, self._others):
            subs = table.get(topic)
            if subs is not None:
                subs.pop(channel, None)
        if not keep_queued:
            channel.discard(topic)

    def _subscribe(self, channel: Channel, action: Subscribe) -> None:
        for topic in action.topics:
            self._drop(channel, topic)
            self.logs.open(topic)
            spec = self.bus.topics[topic]
            sub = Subscription(topic, spec.policy, action.symbols, action.max_rate, 0)
            begin = start(self.bus, topic, action, sub.max_rate)
            sub.position, sub.delivered = begin.position, begin.delivered
            if begin.recovered is not None:
                self.metrics.resume.labels("hit" if begin.recovered else "miss").inc()
            self._send(channel, begin.reply)
            if begin.snapshot is not None:
                self._send(channel, begin.snapshot)
            elif begin.replay is not None:
                channel.queue(begin.replay, force=True)
            if sub.max_rate is not None:
                sub.gate = RateGate(sub.max_rate, self._releaser(channel))
            channel.subscriptions[topic] = sub
            table = self._readers if sub.reader else self._others
            table.setdefault(topic, {})[channel] = sub

    def _releaser(self, channel: Channel) -> Callable[[tuple[str, Hashable], Entry], None]:
        def release(key: tuple[str, Hashable], entry: Entry) -> None:
            channel.queue_latest(key, entry._replace(enqueued=time.monotonic()))
            self._mark(channel)

        return release

    # --- the hot path ---------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        topic = message.topic
        topic_log = self.logs.get(topic)
        if topic_log is None:
            return
        now = time.monotonic()
        topic_log.append(message, now)
        if self._readers.get(topic):
            self._dirty_topics.add(topic)
        others = self._others.get(topic)
        if others:
            scheduler = self.scheduler
            assert scheduler is not None, "the broadcaster is given a scheduler before messages flow"
            _feed(message, now, others, topic_log.policy, scheduler, self.metrics.conflated, self.slow, self._dirty)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def _mark(self, channel: Channel) -> None:
        self._dirty.add(channel)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write what every marked client is due (once per loop turn; tests call it directly)."""
        self._flush_pending = False
        dirty, self._dirty = self._dirty, set()
        cache: ReadCache = {}
        for topic in self._dirty_topics:
            readers = self._readers.get(topic)
            if readers:
                self._shared(topic, readers, dirty, cache)
        self._dirty_topics.clear()
        frames: dict[int, bytes] = {}
        closed = ConnectionState.CLOSED
        for channel in dirty:
            if channel.connection.state is closed:
                continue
            if channel.blocked:
                self.slow.check(channel)
                continue
            entries = channel.take()
            for sub in list(channel.subscriptions.values()):  # reading may close the channel (slow) and drop them
                if sub.reader:
                    entries.extend(self._read(channel, sub, cache))
            if channel.blocked or channel.connection.state is closed:
                continue
            channel.write(entries, frames)
            if channel.connection.closing is not None:
                channel.close_when_sent()
            elif channel.blocked:
                self.slow.check(channel)

    def _materialize(self, channel: Channel) -> None:
        """Move what a client's readers are due from the logs into its outbox (before a control message)."""
        for sub in list(channel.subscriptions.values()):
            if sub.reader:
                for entry in self._read(channel, sub, None):
                    channel.queue(entry, force=True)

    def _read(self, channel: Channel, sub: Subscription, cache: ReadCache | None) -> list[Entry]:
        entries = self.logs.read(sub, cache)
        if entries is None:  # a lossless reader fell off the log
            self.slow.close(channel, sub)
            return []
        return entries

    # --- introspection ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Connections, queue depths and per-topic subscriber counts (for the status route)."""
        depths = [c.queued + sum(self.logs.due(s) for s in c.subscriptions.values() if s.reader)
                  for c in self.channels.values()]
        topics = set(self._readers) | set(self._others)
        return {
            "active_connections": len(self.channels),
            "queued_messages": sum(depths),
            "max_queue_depth": max(depths, default=0),
            "subscribers": {t: len(self._readers.get(t, ())) + len(self._others.get(t, ())) for t in topics},
        }


def _feed(message: Message, now: float, subs: dict[Channel, Subscription], policy: str, scheduler: SchedulerBase,
          conflated: MutableMapping[str, int], slow: SlowConsumers, dirty: set[Channel]) -> None:
    """Queue ``message`` for each filtered or rate-limited subscription that wants it (``dirty``: to flush)."""
    entry = Entry(message.payload, message.topic, message.seq, now)
    symbol = message.symbol
    if policy == "state":
        key = (message.topic, message.key)
        for channel, sub in list(subs.items()):
            if not sub.wants(symbol):
                continue
            gate = sub.gate
            if gate is not None:
                if gate.holds(key):
                    conflated[message.topic] = conflated.get(message.topic, 0) + 1
                if not gate.admit(key, entry, scheduler):
                    continue
            channel.queue_latest(key, entry)
            dirty.add(channel)
        return
    limit = slow.after(message.topic)
    for channel, sub in list(subs.items()):
        if not sub.wants(symbol):
            continue
        channel.refresh_delivered()
        if message.seq - sub.delivered > limit or not channel.queue(entry):
            slow.close(channel, sub)
        else:
            dirty.add(channel)
