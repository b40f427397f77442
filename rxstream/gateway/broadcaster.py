"""Fan-out from the bus to connected clients: serialize once, bounded queues, coalesced writes.

::

    bus.publish ──▶ Broadcaster._on_message ──▶ per client: filter (symbols) ──▶ max_rate gate ──▶ Outbox
                                                                                                  │
                                         one writer task per client ◀── wake ◀───────────────────┘
                                         takes the whole outbox, writes ≤ max_batch messages per frame

* Every message's bytes come from the bus (``Message.payload``, serialized once) and are
  shared by every client; a frame of several messages is ``b"[" + b",".join(...) + b"]"``.
* **State** topics are conflated per key in each client's :class:`Outbox`: a slow client
  gets the latest value per key, never a backlog.
* **Lossless** topics are never dropped silently: a client with more than ``queue_limit``
  of them waiting is closed with :attr:`~CloseCode.SLOW_CONSUMER` (4008) and resumes
  from the bus history with ``since``.
* Each client has its own writer task, so a stalled socket only ever blocks itself; its
  memory is bounded by ``queue_limit`` plus one entry per key of its state topics.
* ``max_rate`` holds back a state key's update until ``1/max_rate`` s after the last one
  sent, then sends the latest, on the given reactivex scheduler (virtual time in tests).

The socket is behind :class:`Sink`, so this module needs no aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from datetime import timedelta
from typing import Any, Protocol

from reactivex.abc import DisposableBase, SchedulerBase

from ..bus import Bus, Message
from ..events import dumps
from .metrics import GatewayMetrics
from .protocol import (
    Close,
    CloseCode,
    Connection,
    ErrorCode,
    Event,
    Limits,
    Send,
    Subscribe,
    Unsubscribe,
    error_message,
)

__all__ = ["Broadcaster", "Channel", "Outbox", "Sink"]

log = logging.getLogger(__name__)

Entry = tuple[bytes, str | None, float, int]
"""(JSON bytes, topic or None for control messages, enqueued at (monotonic s), messages in it)."""


class Sink(Protocol):
    """Where a channel's frames go: a WebSocket in the app, a list in a unit test."""

    async def send(self, frame: bytes) -> None:
        """Write one text frame (wait while the transport is over its high-water mark)."""

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (the closing handshake)."""

    def abort(self) -> None:
        """Drop the connection at once (a peer that does not answer the close)."""


class Outbox:
    """A client's bounded outbound queue, in send order.

    Lossless and control entries are counted against ``limit``. State entries are
    queued as they come while fewer than ``conflate_at`` entries wait (a client that
    keeps up sees every update); past that they are keyed by ``(topic, key)`` and a
    newer one replaces the older, moving to the end so seq order holds.
    """

    __slots__ = ("_counter", "_pending", "conflate_at", "conflated", "limit", "lossless")

    def __init__(self, limit: int, conflated: dict[str, int] | None = None, conflate_at: int = 0) -> None:
        self._pending: dict[Hashable, Entry] = {}
        self._counter = itertools.count()
        self.limit = limit
        self.conflate_at = conflate_at
        self.lossless = 0
        self.conflated = conflated if conflated is not None else {}

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, entry: Entry, *, force: bool = False) -> bool:
        """Queue a lossless/control entry; ``False`` (not queued) when over the limit."""
        if self.lossless >= self.limit and not force:
            return False
        self._pending[next(self._counter)] = entry
        self.lossless += 1
        return True

    def put_latest(self, key: tuple[str, Hashable], entry: Entry) -> None:
        """Queue a state entry, replacing a pending one of the same key when the client is behind."""
        pending = self._pending
        if len(pending) < self.conflate_at:
            pending[next(self._counter)] = entry
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
        keep = {k: e for k, e in self._pending.items() if e[1] != topic}
        dropped = len(self._pending) - len(keep)
        self.lossless = min(self.lossless, len(keep))  # an upper bound: drops are rare (unsubscribe)
        self._pending = keep
        return dropped

    def topics(self) -> Iterable[str | None]:
        """The topic of each pending entry (for metrics on discard)."""
        return (e[1] for e in self._pending.values())


class _Subscription:
    """One channel's subscription to one topic, with its filter and rate gate."""

    __slots__ = ("channel", "held", "interval", "last_sent", "max_rate", "policy", "symbols", "timers", "topic")

    def __init__(
        self, channel: Channel, topic: str, policy: str, symbols: frozenset[str] | None, max_rate: float | None
    ) -> None:
        self.channel = channel
        self.topic = topic
        self.policy = policy
        self.symbols = symbols
        self.max_rate = max_rate if policy == "state" else None
        self.interval = timedelta(seconds=1.0 / self.max_rate) if self.max_rate else None
        self.last_sent: dict[Hashable, Any] = {}
        self.held: dict[tuple[str, Hashable], Entry] = {}
        self.timers: dict[tuple[str, Hashable], DisposableBase] = {}

    def admit(self, key: tuple[str, Hashable], entry: Entry, scheduler: SchedulerBase) -> bool:
        """Whether ``entry`` may go now; otherwise it is held (the latest wins) and a flush is scheduled."""
        assert self.interval is not None
        now = scheduler.now
        last = self.last_sent.get(key)
        if last is None or now - last >= self.interval:
            self.last_sent[key] = now
            return True
        if key in self.held:
            self.channel.broadcaster.metrics.conflated[self.topic] += 1
        self.held[key] = entry
        if key not in self.timers:
            def flush(sch: SchedulerBase, _state: Any, key: tuple[str, Hashable] = key) -> None:
                self._flush(key, sch)

            self.timers[key] = scheduler.schedule_relative(last + self.interval - now, flush)
        return False

    def _flush(self, key: tuple[str, Hashable], scheduler: SchedulerBase) -> None:
        self.timers.pop(key, None)
        entry = self.held.pop(key, None)
        if entry is not None:
            self.last_sent[key] = scheduler.now
            self.channel.push_latest(key, (entry[0], entry[1], time.monotonic(), 1))

    def cancel(self) -> None:
        for timer in self.timers.values():
            timer.dispose()
        self.timers.clear()
        self.held.clear()


class Channel:
    """One connected client: protocol state, subscriptions, outbox and writer task."""

    def __init__(self, broadcaster: Broadcaster, connection: Connection, sink: Sink) -> None:
        self.broadcaster = broadcaster
        self.connection = connection
        self.sink = sink
        self.id = connection.connection_id
        self.subscriptions: dict[str, _Subscription] = {}
        self.outbox = Outbox(
            broadcaster.limits.queue_limit, broadcaster.metrics.conflated, conflate_at=broadcaster.limits.max_batch
        )
        self.closing: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.messages_sent = 0
        self.frames_sent = 0

    def __repr__(self) -> str:
        return f"Channel({self.id!r}, topics={list(self.subscriptions)}, queued={len(self.outbox)})"

    # --- queueing (called on the loop, never blocks) --------------------------------

    def push(self, entry: Entry) -> bool:
        """Queue a lossless entry; ``False`` if the client is over its limit."""
        if self.outbox.put(entry):
            self._wake.set()
            return True
        return False

    def push_latest(self, key: tuple[str, Hashable], entry: Entry) -> None:
        """Queue a state entry, conflated per key."""
        self.outbox.put_latest(key, entry)
        self._wake.set()

    def push_control(self, message: dict[str, Any]) -> None:
        """Queue a control message (not counted against the limit: the inbound rate bounds them)."""
        if message.get("type") == "error":
            self.broadcaster.metrics.errors_sent[message["code"]] += 1
        self.outbox.put((dumps(message), None, time.monotonic(), 1), force=True)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``."""
        if self.closing is None:
            self.closing = (code, reason)
            self._wake.set()

    # --- the writer task -----------------------------------------------------------

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._write(), name=f"ws-writer-{self.id}")

    async def _write(self) -> None:
        wake, outbox, send = self._wake, self.outbox, self._send
        try:
            while True:
                await wake.wait()
                wake.clear()
                entries = outbox.take()
                if entries:
                    await send(entries)
                if self.closing is not None and not len(outbox):
                    break
            code, reason = self.closing
            await self._close_sink(code, reason)
        except (ConnectionError, RuntimeError, OSError) as exc:
            log.debug("channel %s: write failed: %s", self.id, exc)
            self.closing = self.closing or (CloseCode.GOING_AWAY, "connection lost")
        finally:
            self.closed.set()
            self.broadcaster._detach(self)

    async def _send(self, entries: list[Entry]) -> None:
        metrics = self.broadcaster.metrics
        sent, nbytes = metrics.messages_sent, metrics.bytes_sent
        max_batch = self.broadcaster.limits.max_batch
        sink_send = self.sink.send
        for start in range(0, len(entries), max_batch):
            chunk = entries[start : start + max_batch] if len(entries) > max_batch else entries
            if len(chunk) == 1 and chunk[0][3] == 1:
                frame = chunk[0][0]
            else:
                frame = b"[" + b",".join([e[0] for e in chunk]) + b"]"
            await sink_send(frame)
            count = 0
            for payload, topic, _, n in chunk:
                count += n
                if topic is not None:
                    sent[topic] += n
                    nbytes[topic] += len(payload)
            self.messages_sent += count
            self.frames_sent += 1
            metrics.frames_sent += 1
            metrics.latency.observe(time.monotonic() - chunk[0][2], count)

    async def _close_sink(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.sink.close(code, reason), self.broadcaster.close_timeout)
        except (TimeoutError, ConnectionError, RuntimeError, OSError):
            self.sink.abort()

    async def abort_slow(self, code: int, reason: str, message: dict[str, Any]) -> None:
        """Stop the writer wherever it is blocked, try to say why, then close (abort if the peer is stuck)."""
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.closing = (code, reason)

        async def say_and_close() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                await self.sink.send(dumps(message))
            await self.sink.close(code, reason)

        try:
            await asyncio.wait_for(say_and_close(), self.broadcaster.close_timeout)
        except (TimeoutError, ConnectionError, RuntimeError, OSError):
            self.sink.abort()
        finally:
            self.closed.set()
            self.broadcaster._detach(self)

    async def wait_closed(self) -> None:
        """Until the writer has finished (after a close or a lost connection)."""
        await self.closed.wait()


class Broadcaster:
    """Delivers bus messages to channels by topic, with per-client queues and policies.

    Events: none; it calls each :class:`Sink` and counts into :class:`GatewayMetrics`.
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
        self._by_topic: dict[str, dict[Channel, _Subscription]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Begin receiving the bus's messages."""
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe(self._on_message)

    async def stop(self, code: int = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        """Close every channel with ``code`` (1001 by default) and stop receiving from the bus."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        channels = list(self.channels.values())
        for channel in channels:
            self.execute(
                channel, channel.connection.close(CloseCode(code), error_message(ErrorCode.GOING_AWAY, reason))
            )
        if channels:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in channels],
                               timeout=self.close_timeout + 1)
        for task in list(self._tasks):
            task.cancel()

    def connect(self, connection: Connection, sink: Sink) -> Channel:
        """Register a client, queue its ``welcome`` and start its writer."""
        channel = Channel(self, connection, sink)
        self.channels[channel.id] = channel
        self.metrics.connections_total += 1
        channel.push_control(connection.welcome())
        channel.start()
        return channel

    def disconnect(self, channel: Channel, reason: str = "client") -> None:
        """The client is gone: drop its subscriptions and stop its writer."""
        if channel.id in self.channels:
            self.metrics.disconnects_total[reason] += 1
        self._detach(channel)
        task = channel._task
        if task is not None and not task.done():
            task.cancel()

    def _detach(self, channel: Channel) -> None:
        for topic, sub in channel.subscriptions.items():
            sub.cancel()
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.pop(channel, None)
        channel.subscriptions.clear()
        self.channels.pop(channel.id, None)

    # --- protocol events ----------------------------------------------------------------

    def execute(self, channel: Channel, events: list[Event]) -> None:
        """Carry out what the protocol core decided, in order."""
        for event in events:
            if isinstance(event, Send):
                channel.push_control(event.message)
            elif isinstance(event, Subscribe):
                self._subscribe(channel, event)
            elif isinstance(event, Unsubscribe):
                for topic in event.topics:
                    self._drop(channel, topic)
            elif isinstance(event, Close):
                reason = "rate_limited" if event.code == CloseCode.RATE_LIMITED else f"close_{event.code}"
                self.metrics.disconnects_total[reason] += 1
                for topic in list(channel.subscriptions):
                    self._drop(channel, topic)
                channel.close(event.code, event.reason)

    def _drop(self, channel: Channel, topic: str) -> None:
        sub = channel.subscriptions.pop(topic, None)
        if sub is not None:
            sub.cancel()
            self._by_topic.get(topic, {}).pop(channel, None)
            channel.outbox.drop_topic(topic)

    def _subscribe(self, channel: Channel, action: Subscribe) -> None:
        bus = self.bus
        topics = bus.topics
        for topic in action.topics:
            spec = topics[topic]
            self._drop(channel, topic)
            sub = _Subscription(channel, topic, spec.policy, action.symbols, action.max_rate)
            last = bus.last_seq(topic)
            reply: dict[str, Any] = {
                "type": "subscribed",
                "topic": topic,
                "policy": spec.policy,
                "seq": last,
                "epoch": bus.epoch,
                "symbols": sorted(action.symbols) if action.symbols is not None else None,
                "max_rate": sub.max_rate,
            }
            if action.id is not None:
                reply["id"] = action.id
            missed: list[Message] | None = None
            snapshot: list[Message] | None = None
            if topic in action.since:
                if action.epoch == bus.epoch:
                    missed = bus.since(topic, action.since[topic])
                reply["recovered"] = missed is not None
                self.metrics.resume["hit" if missed is not None else "miss"] += 1
            if spec.policy == "state":
                snapshot = bus.snapshot(topic)
            elif topic in action.since and missed is None:
                snapshot = bus.since(topic, max(0, last - spec.history)) or []
                missed = None
            channel.push_control(reply)
            if snapshot is not None:
                items = [m.payload for m in self._filter(snapshot, action.symbols)]
                head = dumps({"type": "snapshot", "topic": topic, "seq": last, "epoch": bus.epoch})
                payload = head[:-1] + b',"items":[' + b",".join(items) + b"]}"
                channel.outbox.put((payload, None, time.monotonic(), 1), force=True)
            elif missed:
                fragments = [m.payload for m in self._filter(missed, action.symbols)]
                if fragments:
                    channel.outbox.put((b",".join(fragments), topic, time.monotonic(), len(fragments)), force=True)
            channel.subscriptions[topic] = sub
            self._by_topic.setdefault(topic, {})[channel] = sub
        channel._wake.set()

    @staticmethod
    def _filter(messages: list[Message], symbols: frozenset[str] | None) -> list[Message]:
        if symbols is None:
            return messages
        return [m for m in messages if m.symbol is None or m.symbol in symbols]

    # --- the hot path ---------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        subs = self._by_topic.get(message.topic)
        if not subs:
            return
        entry: Entry = (message.payload, message.topic, time.monotonic(), 1)
        symbol = message.symbol
        first = next(iter(subs.values()))
        if first.policy == "state":
            key = (message.topic, message.key)
            scheduler = self.scheduler
            assert scheduler is not None, "the broadcaster is started before messages flow"
            for channel, sub in list(subs.items()):
                if sub.symbols is not None and symbol is not None and symbol not in sub.symbols:
                    continue
                if sub.interval is not None and not sub.admit(key, entry, scheduler):
                    continue
                channel.push_latest(key, entry)
            return
        slow: list[Channel] = []
        for channel, sub in list(subs.items()):
            if sub.symbols is not None and symbol is not None and symbol not in sub.symbols:
                continue
            if not channel.push(entry):
                slow.append(channel)
        for channel in slow:
            self._close_slow(channel)

    def _close_slow(self, channel: Channel) -> None:
        limit = self.limits.queue_limit
        message = error_message(
            ErrorCode.SLOW_CONSUMER,
            f"more than {limit} lossless messages waiting; reconnect and resume with 'since'",
        )
        self.metrics.disconnects_total["slow_consumer"] += 1
        for topic in channel.outbox.topics():
            if topic is not None:
                self.metrics.discarded[topic] += 1
        channel.outbox.take()
        self.metrics.errors_sent[ErrorCode.SLOW_CONSUMER.value] += 1
        channel.connection.close(CloseCode.SLOW_CONSUMER)
        self._detach(channel)
        task = asyncio.get_running_loop().create_task(
            channel.abort_slow(CloseCode.SLOW_CONSUMER, "slow consumer", message)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- introspection ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Connections, queue depths and per-topic subscriber counts (for the status route)."""
        depths = [len(c.outbox) for c in self.channels.values()]
        return {
            "active_connections": len(self.channels),
            "queued_messages": sum(depths),
            "max_queue_depth": max(depths, default=0),
            "subscribers": {t: len(s) for t, s in self._by_topic.items()},
        }

