"""The ingest's side of the Redis bus: numbers, serializes and writes every message once.

:class:`RedisPublisher` is the :class:`~rxstream.bus.Bus` an ingest's engine
publishes into. ``publish`` is synchronous (pipelines call it from ``on_next``):
it assigns the seq, serializes the frame and queues the entry; a writer task
sends the queue to Redis in order, many entries per round trip, each batch in
one script call (atomic: a batch is written whole or not at all, in one round trip).

While Redis is away the queue keeps growing up to ``buffer_limit`` entries (the
oldest are dropped past it, counted in :attr:`dropped` and reported on the
``bus_publish`` health stream); when Redis is back the writer reconnects with
:class:`~rxstream.operators.Backoff`, skips whatever a lost reply had in fact
written (the seq hash says), and flushes the rest in order.

A value with an ``exec_id`` (a fill) is written once per bus: the exec ids
already written are loaded on :meth:`open`, so the executions a broker sends
again after an ingest restart are not published a second time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..bus import Listeners, Message, TopicSpec, symbol_of
from ..errors import ConfigError, StreamError
from ..health import HealthMonitor
from ..operators import Backoff
from ..wire import DataEncoder, encode_data
from .cancellation import raise_if_cancelled
from .layout import Layout, entry_fields, key_text

__all__ = ["PUBLISH_STREAM", "RedisPublisher"]

log = logging.getLogger(__name__)

PUBLISH_STREAM = "bus_publish"
"""The health stream of the ingest's writes to Redis."""

_Pending = tuple[Message, str | None]  # message, exec id

_APPEND = """
local maxlen, seqkey, topics = ARGV[1], ARGV[2], ARGV[3]
for _, spec in ipairs(cjson.decode(ARGV[4])) do redis.call('HSET', topics, spec[1], spec[2]) end
local last, newest = {}, false
for _, m in ipairs(cjson.decode(ARGV[5])) do
  local topic, stream, seq, t, p, k, y = m[1], m[2], m[3], m[4], m[5], m[6], m[7]
  if k ~= '' and y ~= '' then
    newest = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 's', seq, 't', t, 'p', p, 'k', k, 'y', y)
  elseif k ~= '' then
    newest = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 's', seq, 't', t, 'p', p, 'k', k)
  elseif y ~= '' then
    newest = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 's', seq, 't', t, 'p', p, 'y', y)
  else
    newest = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 's', seq, 't', t, 'p', p)
  end
  if m[8] ~= '' then redis.call('HSET', m[8], k, m[9]) end
  if m[10] ~= '' then redis.call('ZADD', m[10], seq, m[11]) end
  last[topic] = seq
end
for topic, seq in pairs(last) do redis.call('HSET', seqkey, topic, seq) end
return newest
"""


def _body(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


def _attr(value: Any, name: str) -> str | None:
    found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return found if isinstance(found, str) else None


class RedisPublisher:
    """A :class:`~rxstream.bus.Bus` that writes to Redis Streams (one stream per topic).

    Attributes:
        epoch: The bus's epoch, read from (or first written to) Redis by :meth:`open`.
        dropped: Entries dropped because the buffer was full while Redis was away.
        health: Where the ``bus_publish`` stream is reported (set it once the engine has one).
    """

    def __init__(
        self,
        client: Redis,
        *,
        layout: Layout | None = None,
        history_size: int = 1000,
        history_seconds: float = 600.0,
        buffer_limit: int = 100_000,
        batch: int = 500,
        exec_id_limit: int = 100_000,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] | None = None,
        encoder: DataEncoder = encode_data,
    ) -> None:
        if buffer_limit < 1 or batch < 1 or history_size < 1 or history_seconds <= 0:
            raise ConfigError("bus", "buffer_limit, batch, history_size and history_seconds must be positive")
        self.epoch = ""
        self.dropped = 0
        self.health: HealthMonitor | None = None
        self._client: Any = client  # redis-py types replies as unions of its sync and async forms
        self._layout = layout or Layout()
        self._history_size = history_size
        self._history_ms = int(history_seconds * 1000)
        self._buffer_limit = buffer_limit
        self._batch = batch
        self._exec_id_limit = exec_id_limit
        self._backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._encode = encoder
        self._topics: dict[str, TopicSpec] = {}
        self._unregistered: set[str] = set()
        self._seq: dict[str, int] = {}
        self._exec_ids: dict[str, dict[str, int]] = {}
        self._pending: deque[_Pending] = deque()
        self._listeners = Listeners()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._trimmed_at = 0.0
        self._append = client.register_script(_APPEND)

    # --- lifetime -------------------------------------------------------------------

    async def open(self) -> None:
        """Read (or set) the epoch, the last seq of every topic and the exec ids written; start the writer."""
        layout = self._layout
        await self._client.set(layout.epoch, secrets.token_hex(4), nx=True)
        epoch = await self._client.get(layout.epoch)
        self.epoch = epoch.decode()
        self._seq = {k.decode(): int(v) for k, v in (await self._client.hgetall(layout.seq)).items()}
        for topic in self._seq:
            ids = await self._client.zrange(f"{layout.exec_ids}:{topic}", 0, -1, withscores=True)
            if ids:
                self._exec_ids[topic] = {i.decode(): int(score) for i, score in ids}
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="rxstream-redis-publisher")

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (waiting at most ``timeout`` seconds), then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                log.warning("redis bus: %d messages not written before shutdown", len(self._pending))
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- the Bus protocol -------------------------------------------------------------

    @property
    def topics(self) -> dict[str, TopicSpec]:
        """Declared topics by name."""
        return dict(self._topics)

    def declare(self, spec: TopicSpec) -> None:
        """Create a topic (written to Redis with the next batch, so gateways offer it)."""
        existing = self._topics.get(spec.name)
        if existing is not None:
            if existing != spec:
                raise ConfigError("topics", f"topic {spec.name!r} is already declared differently")
            return
        self._topics[spec.name] = spec
        self._seq.setdefault(spec.name, 0)
        self._unregistered.add(spec.name)
        self._wake.set()

    def publish(self, topic: str, value: Any) -> Message:
        """Number, serialize once and queue ``value``; a fill already on the bus returns its first message's seq."""
        spec = self._topics[topic]
        exec_id = _attr(value, "exec_id")
        now = self._clock()
        key: Hashable | None = spec.key(value) if spec.key is not None else None
        if exec_id is not None and exec_id in self._exec_ids.get(topic, {}):
            first = self._exec_ids[topic][exec_id]
            log.info("redis bus: %s exec id %s is already on the bus as seq %d; not published again",
                     topic, exec_id, first)
            return Message(topic, first, self.epoch, now, key, b"", symbol_of(value), value)
        seq = self._seq[topic] + 1
        self._seq[topic] = seq
        payload = self._encode(topic, seq, self.epoch, now, _body(value))
        message = Message(topic, seq, self.epoch, now, key, payload, symbol_of(value), value)
        if exec_id is not None:
            self._exec_ids.setdefault(topic, {})[exec_id] = seq
        self._pending.append((message, exec_id))
        if len(self._pending) > self._buffer_limit:
            lost, _ = self._pending.popleft()
            self.dropped += 1
            if self.health is not None:
                self.health.record_error(PUBLISH_STREAM, f"buffer full: dropped {lost.topic} #{lost.seq}")
        self._wake.set()
        self._listeners.deliver(message)
        return message

    def subscribe(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Deliver every message this process publishes to ``listener`` (gateways read Redis instead)."""
        return self._listeners.add(listener)

    def last_seq(self, topic: str) -> int:
        """The seq of the last message published on ``topic``."""
        return self._seq[topic]

    def snapshot(self, topic: str) -> list[Message]:
        """Not served by the writer: gateways read snapshots from Redis."""
        return []

    def since(self, topic: str, seq: int) -> list[Message] | None:
        """Not served by the writer: gateways resume clients from Redis."""
        return None

    def recent(self, topic: str, *, count: int | None = None, seconds: float | None = None) -> list[Message]:
        """Not served by the writer: gateways rewind clients from Redis."""
        return []

    @property
    def queued(self) -> int:
        """Messages published but not yet written to Redis."""
        return len(self._pending)

    # --- writing ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        attempt = 0
        while True:
            raise_if_cancelled()  # close() gave up waiting, and a finishing write swallowed its CancelledError
            if not self._pending and not self._unregistered:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
            try:
                if attempt:
                    await self._reconcile()
                    batch = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
                await self._write(batch)
            except (RedisError, OSError) as error:
                attempt += 1
                if self.health is not None:
                    self.health.mark_down(PUBLISH_STREAM, f"redis unreachable: {error}; {len(self._pending)} queued")
                    self.health.record_recovery_attempt(PUBLISH_STREAM)
                if attempt == 1:
                    log.warning("redis bus: cannot write (%s); buffering up to %d messages", error, self._buffer_limit)
                if self._closing and attempt >= 3:
                    raise StreamError(PUBLISH_STREAM, f"{len(self._pending)} messages not written: {error}") from None
                await asyncio.sleep(self._backoff.delay(attempt))
                continue
            if attempt:
                log.info("redis bus: writing again after %d attempts", attempt)
                attempt = 0
            written = {id(entry[0]) for entry in batch}
            while self._pending and id(self._pending[0][0]) in written:
                self._pending.popleft()
            if self.health is not None:
                self.health.mark_up(PUBLISH_STREAM)
                self.health.record_update(PUBLISH_STREAM)

    async def _reconcile(self) -> None:
        """After an error: drop what Redis has (a lost EXEC reply) and check the bus is still ours."""
        epoch = await self._client.get(self._layout.epoch)
        if epoch is None:  # Redis came back empty: the window is gone, the numbering goes on
            log.warning("redis bus: Redis lost its data; writing epoch %s again", self.epoch)
            await self._client.set(self._layout.epoch, self.epoch)
            self._unregistered.update(self._topics)
            return
        if epoch.decode() != self.epoch:
            raise StreamError(PUBLISH_STREAM, f"the bus epoch changed to {epoch.decode()} under this ingest")
        stored = {k.decode(): int(v) for k, v in (await self._client.hgetall(self._layout.seq)).items()}
        while self._pending and self._pending[0][0].seq <= stored.get(self._pending[0][0].topic, 0):
            self._pending.popleft()

    async def _write(self, batch: list[_Pending]) -> None:
        """One script call per batch (atomic: written whole or not at all): every XADD, each state topic's
        latest entry, each fill's exec id and the last seq per topic. The batch travels as one JSON
        argument: packing thousands of small arguments costs more than the write."""
        layout = self._layout
        registering = list(self._unregistered)
        topics = [[name, orjson.dumps({"policy": self._topics[name].policy,
                                       "history": self._topics[name].history}).decode()] for name in registering]
        rows: list[list[str]] = []
        for message, exec_id in batch:
            topic = message.topic
            state = self._topics[topic].policy == "state"
            key = key_text(message.key).decode() if message.key is not None else ""
            micros = str(int(message.time.timestamp() * 1_000_000))
            payload = message.payload.decode()
            rows.append([
                topic, layout.stream(topic), str(message.seq), micros, payload, key, message.symbol or "",
                layout.latest(topic) if state else "",
                _pack(entry_fields(message)).decode() if state else "",
                f"{layout.exec_ids}:{topic}" if exec_id is not None else "", exec_id or "",
            ])
        newest = await self._append(args=[self._history_size, layout.seq, layout.topics,
                                          orjson.dumps(topics), orjson.dumps(rows)])
        self._unregistered.difference_update(registering)
        await self._trim_by_time(newest)

    async def _trim_by_time(self, newest: bytes | None) -> None:
        """Once a second, ``XTRIM MINID ~`` every topic to the last ``history_seconds`` (on Redis's clock)."""
        loop = asyncio.get_running_loop()
        if not newest or loop.time() - self._trimmed_at < 1.0:
            return
        self._trimmed_at = loop.time()
        newest_ms = int(newest.split(b"-", 1)[0])  # the last XADD's id: b"<ms>-<n>"
        pipe = self._client.pipeline(transaction=False)
        for topic in self._topics:
            pipe.xtrim(self._layout.stream(topic), minid=newest_ms - self._history_ms, approximate=True)
        for topic, known in self._exec_ids.items():
            if len(known) > self._exec_id_limit * 1.1:
                self._exec_ids[topic] = dict(sorted(known.items(), key=lambda item: item[1])[-self._exec_id_limit:])
                pipe.zremrangebyrank(f"{self._layout.exec_ids}:{topic}", 0, -self._exec_id_limit - 1)
        await pipe.execute()


def _pack(fields: dict[bytes, bytes]) -> bytes:
    """A state topic's latest entry, kept in a hash: the stream entry's fields as one JSON object."""
    return orjson.dumps({k.decode(): v.decode() for k, v in fields.items()})
