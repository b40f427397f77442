"""One connected client on the way out: its outbox, its frames, its backpressure and its close.

A :class:`Channel` writes synchronously when its :class:`Sink` can take more and owns no
task while it keeps up: a client that is idle or reads promptly costs no task and no
timer. Only a client over its transport's high-water mark gets a short-lived task that
waits for the transport to drain; only a closing client gets a task for the closing
handshake. Frames hold at most ``max_batch`` messages: one message is sent as itself,
several as a JSON array.

The socket is behind :class:`Sink`, so this module needs no aiohttp; ``tests/test_gateway_channel.py``
drives it with a list-backed sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .metrics import GatewayMetrics
from .outbox import Entry, Outbox
from .protocol import Close, Connection, ConnectionState
from .sink import header_size
from .subscription import Subscription

__all__ = ["Channel", "Sink"]

log = logging.getLogger(__name__)

_LOST = (ConnectionError, RuntimeError, OSError)


class Sink(Protocol):
    """Where a channel's frames go: a WebSocket in the app, a list in a unit test."""

    def write(self, frame: bytes) -> bool:
        """Queue one text frame on the transport now; ``False`` once it holds more than it should
        (write nothing more until :meth:`drain` returns). Raises ``ConnectionError`` when the
        connection is gone."""

    def unsent(self) -> int:
        """Bytes written but still in the transport's buffer (not yet handed to the operating system)."""

    def ping(self) -> None:
        """Send a WebSocket ping frame now (the peer answers with a pong)."""

    async def drain(self) -> None:
        """Until the transport is below its low-water mark."""

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (the closing handshake)."""

    def abort(self) -> None:
        """Drop the connection at once (a peer that does not answer the close)."""


class Channel:
    """One client: protocol state, subscriptions, outbox and the writes to its sink.

    ``on_writable(channel)`` is called when a blocked channel may write again;
    ``on_finished(channel)`` once, when its connection is over.
    """

    __slots__ = (
        "_done",
        "_inflight",
        "_task",
        "_written",
        "blocked",
        "close_timeout",
        "connection",
        "heard",
        "id",
        "max_batch",
        "metrics",
        "on_finished",
        "on_writable",
        "outbox",
        "pinged",
        "queue_limit",
        "sink",
        "subscriptions",
    )

    def __init__(
        self, connection: Connection, sink: Sink, *, metrics: GatewayMetrics, max_batch: int, queue_limit: int,
        close_timeout: float, on_writable: Callable[[Channel], None], on_finished: Callable[[Channel], None],
    ) -> None:
        self.connection = connection
        self.sink = sink
        self.id = connection.connection_id
        self.metrics = metrics
        self.max_batch = max_batch
        self.queue_limit = queue_limit
        self.close_timeout = close_timeout
        self.on_writable = on_writable
        self.on_finished = on_finished
        self.subscriptions: dict[str, Subscription] = {}
        self.outbox: Outbox | None = None
        self.blocked = False
        self.heard = 0.0
        """When the peer last sent anything (a frame or a pong), on the loop's clock."""
        self.pinged: float | None = None
        """When an unanswered ping was sent."""
        self._written = 0
        self._inflight: deque[tuple[int, str, int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"Channel({self.id!r}, topics={list(self.subscriptions)}, queued={self.queued})"

    @property
    def queued(self) -> int:
        """Entries waiting in the outbox."""
        return len(self.outbox) if self.outbox is not None else 0

    @property
    def finished(self) -> bool:
        """Whether the connection is over."""
        return self.connection.state is ConnectionState.CLOSED

    # --- queueing (on the loop, never blocks) ------------------------------------------

    def _box(self) -> Outbox:
        if self.outbox is None:
            self.outbox = Outbox(self.queue_limit, self.metrics.conflated, conflate_at=self.max_batch)
        return self.outbox

    def queue(self, entry: Entry, *, force: bool = False) -> bool:
        """Queue a lossless or control entry; ``False`` if the client is over ``queue_limit``."""
        return self._box().put(entry, force=force)

    def queue_latest(self, key: tuple[str, object], entry: Entry) -> None:
        """Queue a state entry, conflated per key when the client is behind."""
        self._box().put_latest(key, entry)

    def take(self) -> list[Entry]:
        """Everything queued, oldest first; the outbox goes until something is queued again."""
        box, self.outbox = self.outbox, None
        return box.take() if box is not None else []

    def discard(self, topic: str | None = None) -> int:
        """Drop what waits (of ``topic``, or everything); how many entries."""
        if self.outbox is None:
            return 0
        if topic is not None:
            return self.outbox.drop_topic(topic)
        dropped = self.take()
        for entry in dropped:
            if entry.topic is not None:
                self.metrics.discarded[entry.topic] += entry.messages
        return len(dropped)

    # --- writing ------------------------------------------------------------------------

    def write(self, entries: list[Entry], frames: dict[int, bytes] | None = None) -> None:
        """Send ``entries`` in frames of at most ``max_batch`` messages; ``frames`` caches the array
        frame built for an entry (by ``id`` of its payload) so clients reading the same log share it."""
        if not entries or self.connection.state is ConnectionState.CLOSED:
            return
        metrics, max_batch, write = self.metrics, self.max_batch, self.sink.write
        sent, nbytes = metrics.messages_sent, metrics.bytes_sent
        now = time.monotonic()
        start, total = 0, len(entries)
        lossless: list[tuple[int, str, int]] = []
        try:
            while start < total:
                first = entries[start]
                end, count = start + 1, first.messages
                while end < total and count + entries[end].messages <= max_batch:
                    count += entries[end].messages
                    end += 1
                if end == start + 1:
                    frame = first.payload if count == 1 else self._array(first.payload, frames)
                    chunk: list[Entry] | tuple[Entry] = (first,)
                else:
                    chunk = entries[start:end]
                    frame = b"[" + b",".join([e.payload for e in chunk]) + b"]"
                writable = write(frame)
                n = len(frame)
                self._written += n + header_size(n)
                for e in chunk:
                    topic = e.topic
                    if topic is not None:
                        sent[topic] += e.messages
                        nbytes[topic] += len(e.payload)
                        sub = self.subscriptions.get(topic)
                        if sub is not None and sub.policy == "lossless":
                            lossless.append((self._written, topic, e.seq))
                metrics.frames_sent += 1
                metrics.latency.observe(now - first.enqueued, count)
                start = end
                if not writable and not self.blocked:
                    self._wait_for_drain()
        except _LOST as exc:
            log.debug("channel %s: write failed: %s", self.id, exc)
            self.finish()
            return
        if lossless:
            self._track(lossless)

    def write_shared(self, frame: bytes, entry: Entry, sub: Subscription) -> bool:
        """Write one frame that other clients are sent too: ``entry`` (all of what ``sub``, a reader of the
        shared log, is due) as ``frame``; the caller counts the metrics. ``False``: the connection is gone."""
        try:
            writable = self.sink.write(frame)
            n = len(frame)
            self._written += n + header_size(n)
            if sub.policy == "lossless":
                inflight = self._inflight
                if inflight is None and self.sink.unsent() == 0:
                    sub.delivered = entry.seq  # the usual case: the transport took everything at once
                else:
                    if inflight is None:
                        inflight = self._inflight = deque()
                    inflight.append((self._written, sub.topic, entry.seq))
        except _LOST as exc:
            log.debug("channel %s: write failed: %s", self.id, exc)
            self.finish()
            return False
        if not writable and not self.blocked:
            self._wait_for_drain()
        return True

    @staticmethod
    def _array(payload: bytes, frames: dict[int, bytes] | None) -> bytes:
        if frames is None:
            return b"[" + payload + b"]"
        frame = frames.get(id(payload))
        if frame is None:
            frame = frames[id(payload)] = b"[" + payload + b"]"
        return frame

    def _track(self, written: list[tuple[int, str, int]]) -> None:
        """Remember where each lossless entry ended in the byte stream, to know when it left the transport."""
        if self._inflight is None:
            try:
                handed_on = self.sink.unsent() == 0
            except _LOST:
                return
            if handed_on:  # the usual case: the transport took everything at once
                subs = self.subscriptions
                for _, topic, seq in written:
                    sub = subs.get(topic)
                    if sub is not None and seq > sub.delivered:
                        sub.delivered = seq
                return
            self._inflight = deque()
        self._inflight.extend(written)

    def refresh_delivered(self) -> None:
        """Move each lossless subscription's ``delivered`` past what the transport has handed on."""
        inflight = self._inflight
        if not inflight:
            return
        try:
            unsent = self.sink.unsent()
        except _LOST:
            return
        done = self._written - unsent
        subs = self.subscriptions
        while inflight and inflight[0][0] <= done:
            _, topic, seq = inflight.popleft()
            sub = subs.get(topic)
            if sub is not None and seq > sub.delivered:
                sub.delivered = seq
        if not inflight:
            self._inflight = None

    def _wait_for_drain(self) -> None:
        self.blocked = True

        async def drain() -> None:
            try:
                await self.sink.drain()
            except _LOST:
                self.finish()
                return
            self.blocked = False
            self._task = None
            self.on_writable(self)

        self._task = asyncio.get_running_loop().create_task(drain(), name=f"ws-drain-{self.id}")

    def ping(self, now: float) -> None:
        """Ping the peer (the heartbeat found it silent)."""
        self.pinged = now
        try:
            self.sink.ping()
        except _LOST:
            self.finish()

    # --- closing ------------------------------------------------------------------------

    def close_when_sent(self) -> None:
        """If the connection is closing and nothing waits, do the closing handshake."""
        closing = self.connection.closing
        if closing is None or self.blocked or self.queued or self._task is not None or self.finished:
            return
        self._close(closing)

    def close_now(self, error: bytes) -> None:
        """Close at once (a slow consumer): drop what waits, say ``error`` behind what was written, close."""
        closing = self.connection.closing
        assert closing is not None, "close_now follows Connection.close"
        self.discard()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.blocked = True  # nothing more is written but the close
        with contextlib.suppress(*_LOST):
            self.sink.write(error)
        self._close(closing)

    def _close(self, closing: Close) -> None:
        async def handshake() -> None:
            try:
                await asyncio.wait_for(self.sink.close(closing.code, closing.reason), self.close_timeout)
            except (TimeoutError, *_LOST):
                self.sink.abort()
            finally:
                self._task = None
                self.finish()

        self._task = asyncio.get_running_loop().create_task(handshake(), name=f"ws-close-{self.id}")

    def finish(self) -> None:
        """The connection is over (closed, or lost): stop everything and tell the owner, once."""
        if self.finished:
            return
        self.connection.finish()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        for sub in self.subscriptions.values():
            sub.cancel()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self.on_finished(self)

    async def wait_closed(self) -> None:
        """Until the connection is over."""
        if self.finished:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)
