"""A gateway's side of the Redis bus: reads every topic's stream and serves the window from memory.

:class:`RedisReader` is the :class:`~rxstream.bus.Bus` a gateway's broadcaster
subscribes to. It loads the epoch, the topics, each topic's retained entries
and each state topic's latest entry per key, then follows every stream with
``XREAD BLOCK`` from the last ID it read. Snapshots, resumes and rewinds are
answered from that copy of the window, which is trimmed by the same rule Redis
trims by (``history_size`` entries and ``history_seconds``), so every gateway
gives the same answer.

When Redis goes away the reader keeps its clients, marks the ``bus`` health
stream down with the reason and the lag, reconnects with
:class:`~rxstream.operators.Backoff` and continues from the last ID it read. If
entries it never read were trimmed meanwhile, or Redis came back with another
epoch, it drops its copy of what no longer joins up, so a client asking for
those messages gets ``recovered: false`` and a snapshot rather than a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..bus import Listeners, Message, TopicPolicy, TopicSpec, messages_since, recent_messages
from ..health import HealthMonitor
from ..operators import Backoff
from .cancellation import raise_if_cancelled
from .layout import Layout, message_from_entry

__all__ = ["BUS_STREAM", "RedisReader"]

log = logging.getLogger(__name__)

BUS_STREAM = "bus"
"""The health stream of a gateway's reads from Redis."""


def _entry_key(value: Any) -> Hashable:
    return None  # gateways take the key from the entry, never from the value


class RedisReader:
    """A :class:`~rxstream.bus.Bus` that follows Redis Streams written by an ingest.

    Attributes:
        health: Where the ``bus`` stream is reported (set it before :meth:`open`).
    """

    def __init__(
        self,
        client: Redis,
        *,
        layout: Layout | None = None,
        history_size: int = 1000,
        history_seconds: float = 600.0,
        block_ms: int = 1000,
        batch: int = 1000,
        refresh: float = 1.0,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.epoch = ""
        self.health: HealthMonitor | None = None
        self._client: Any = client  # redis-py types replies as unions of its sync and async forms
        self._layout = layout or Layout()
        self._history_size = history_size
        self._history = timedelta(seconds=history_seconds)
        self._block_ms = block_ms
        self._batch = batch
        self._refresh = refresh
        self._backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._topics: dict[str, TopicSpec] = {}
        self._window: dict[str, deque[Message]] = {}
        self._latest: dict[str, dict[Hashable, Message]] = {}
        self._seq: dict[str, int] = {}
        self._last_id: dict[str, bytes] = {}
        self._listeners = Listeners()
        self._task: asyncio.Task[None] | None = None
        self._contact = time.time()
        self._lag = 0.0
        self._down = False

    # --- lifetime -------------------------------------------------------------------

    async def open(self) -> None:
        """Load the window (if Redis answers now) and start following the streams."""
        try:
            await self._load()
        except (RedisError, OSError) as error:
            self._mark_down(error)
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="rxstream-redis-reader")

    async def close(self) -> None:
        """Stop following, at any moment, and return once the reader has stopped (the pool is the caller's)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def lag(self) -> float:
        """Seconds behind: since the last contact while Redis is away, else the last entry's age when read."""
        return round(time.time() - self._contact, 3) if self._down else round(self._lag, 3)

    # --- the Bus protocol -------------------------------------------------------------

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """The topics the ingest declared."""
        return dict(self._topics)

    def declare(self, spec: TopicSpec) -> None:
        """Gateways take their topics from the ingest; declaring here only adds a local one."""
        self._add_topic(spec.name, spec.policy, spec.history)

    def publish(self, topic: str, value: Any) -> Message:
        """Gateways do not publish; only the ingest numbers messages."""
        raise NotImplementedError("a gateway's bus is read-only: publish through the ingest")

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``listener`` with every message read from Redis."""
        return self._listeners.add(listener)

    def last_seq(self, topic: str) -> int:
        """The seq of the last message read on ``topic``."""
        return self._seq.get(topic, 0)

    def snapshot(self, topic: str) -> list[Message]:
        """The latest message per key of a state topic, oldest first."""
        return sorted(self._latest.get(topic, {}).values(), key=lambda m: m.seq)

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Messages after ``seq``; ``None`` if the window no longer reaches back that far."""
        return messages_since(self._window.get(topic, deque()), self._seq.get(topic, 0), seq)

    def recent(self, topic: str, *, count: int | None = None, seconds: float | None = None) -> list[Message]:
        """The last ``count`` messages of ``topic``, or those stamped in the last ``seconds``; oldest first.

        Exactly one of ``count`` and ``seconds`` is given; the answer never reaches past the window.
        """
        return recent_messages(self._window.get(topic, deque()), self._clock(), count=count, seconds=seconds)

    # --- reading ----------------------------------------------------------------------

    def _add_topic(self, name: str, policy: TopicPolicy, history: int) -> None:
        if name not in self._topics:
            self._topics[name] = TopicSpec(name, policy, _entry_key if policy == "state" else None, history)
            self._window[name] = deque(maxlen=self._history_size)
            self._latest[name] = {}
            self._last_id.setdefault(name, b"0-0")

    async def _read_topics(self) -> None:
        for name, raw in (await self._client.hgetall(self._layout.topics)).items():
            spec = orjson.loads(raw)
            self._add_topic(name.decode(), spec.get("policy", "lossless"), int(spec.get("history", 1000)))

    async def _load(self) -> None:
        """Read the epoch, the topics, every retained entry and every state topic's latest entries."""
        epoch = await self._client.get(self._layout.epoch)
        self.epoch = epoch.decode() if epoch is not None else ""
        self._topics.clear()
        self._window.clear()
        self._latest.clear()
        self._seq.clear()
        self._last_id.clear()
        await self._read_topics()
        for topic, spec in self._topics.items():
            if spec.policy == "state":
                for key, packed in (await self._client.hgetall(self._layout.latest(topic))).items():
                    fields = {k.encode(): v.encode() for k, v in orjson.loads(packed).items()}
                    message = message_from_entry(topic, self.epoch, fields)
                    self._latest[topic][key.decode()] = message
            start = b"-"
            while True:
                entries = await self._client.xrange(self._layout.stream(topic), min=start, count=self._batch)
                for entry_id, fields in entries:
                    self._keep(topic, message_from_entry(topic, self.epoch, fields), entry_id)
                if len(entries) < self._batch:
                    break
                start = b"(" + entries[-1][0]
        for name, seq in (await self._client.hgetall(self._layout.seq)).items():
            if name.decode() in self._topics and not self._window[name.decode()]:
                self._seq[name.decode()] = int(seq)  # everything trimmed: nothing to resume from, numbering known
        self._contact = time.time()
        self._mark_up()

    def _keep(self, topic: str, message: Message, entry_id: bytes) -> bool:
        """Add ``message`` to the window; False when it does not follow the last one (a gap)."""
        window = self._window[topic]
        joined = message.seq == self._seq.get(topic, 0) + 1 or not window
        if not joined:
            window.clear()  # what we hold no longer joins up with what follows
        window.append(message)
        cutoff = message.time - self._history
        while window and window[0].time < cutoff:
            window.popleft()
        self._seq[topic] = message.seq
        self._last_id[topic] = entry_id
        if self._topics[topic].policy == "state":
            latest = self._latest[topic]
            latest.pop(message.key, None)
            latest[message.key] = message
        return joined

    async def _follow(self) -> None:
        attempt = 0
        refreshed = time.monotonic()
        while True:
            raise_if_cancelled()  # a close() whose CancelledError a finishing command swallowed (see cancellation)
            try:
                if attempt:
                    await self._resync()
                    attempt = 0
                if time.monotonic() - refreshed >= self._refresh:
                    refreshed = time.monotonic()
                    await self._check_epoch()
                    await self._read_topics()
                if not self._topics:
                    await asyncio.sleep(self._refresh)
                    continue
                streams = {self._layout.stream(t): self._last_id[t] for t in self._topics}
                replies = await self._client.xread(streams, count=self._batch, block=self._block_ms)
                raise_if_cancelled()  # closed while the read was sent: deliver nothing more
                self._contact = time.time()
                self._deliver(replies)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                attempt += 1
                self._mark_down(error)
                if self.health is not None:
                    self.health.record_recovery_attempt(BUS_STREAM)
                await asyncio.sleep(self._backoff.delay(attempt))

    def _deliver(self, replies: Any) -> None:
        items = replies.items() if isinstance(replies, dict) else replies or ()
        now = time.time()
        delivered = 0
        for stream, entries in items:
            topic = self._layout.topic_of(stream.decode() if isinstance(stream, bytes) else stream)
            if topic not in self._topics:
                continue
            for entry_id, fields in entries:
                message = message_from_entry(topic, self.epoch, fields)
                if not self._keep(topic, message, entry_id):
                    log.warning("redis bus: %s jumped to #%d (entries trimmed while unread)", topic, message.seq)
                self._lag = now - int(entry_id.split(b"-", 1)[0]) / 1000
                delivered += 1
                self._listeners.deliver(message)
        if delivered and self.health is not None:
            self.health.record_update(BUS_STREAM)

    async def _check_epoch(self) -> None:
        epoch = await self._client.get(self._layout.epoch)
        if epoch is not None and epoch.decode() != self.epoch:
            log.warning("redis bus: epoch %s replaced by %s; reloading the window", self.epoch or "-", epoch.decode())
            await self._load()

    async def _resync(self) -> None:
        """Back after an outage: same epoch → continue from the last IDs; another → reload."""
        epoch = await self._client.get(self._layout.epoch)
        if epoch is None or epoch.decode() != self.epoch:
            await self._load()
        log.info("redis bus: reading again (epoch %s)", self.epoch)
        self._mark_up()

    def _mark_down(self, error: BaseException) -> None:
        if not self._down:
            log.warning("redis bus: cannot read (%s); clients stay connected, retrying", error)
        self._down = True
        if self.health is not None:
            self.health.mark_down(BUS_STREAM, f"redis unreachable: {error}")
            self.health.record_error(BUS_STREAM, f"redis unreachable: {error}")

    def _mark_up(self) -> None:
        self._down = False
        if self.health is not None:
            self.health.mark_up(BUS_STREAM)
            self.health.record_update(BUS_STREAM)

