"""The Redis bus against a real redis-server: one numbering, the window, fills once, the lease, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter

import pytest
from reactivex.scheduler import HistoricalScheduler
from redis_support import RedisServer, ReplyCutter, eventually, running_redis

from rxstream.bus import Message, TopicSpec
from rxstream.errors import ConfigError
from rxstream.events import Fill
from rxstream.health import HealthMonitor
from rxstream.operators import Backoff
from rxstream.redisbus import (
    BUS_STREAM,
    PUBLISH_STREAM,
    BusAddress,
    LagHealth,
    Layout,
    Lease,
    RedisPublisher,
    RedisReader,
    connect,
    parse_bus_url,
)

FAST = Backoff(initial=0.02, factor=1.5, maximum=0.2, jitter=0.0)
PRICES = TopicSpec("prices", "state", itemgetter("symbol"))
TRADES = TopicSpec("trades", "lossless")


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


def fill(n: int) -> Fill:
    return Fill(f"0001.{n:04d}.01", n, "DU1", "EURUSD", "BUY", 1000.0, 1.1, 0.5, datetime(2024, 1, 2, tzinfo=UTC))


async def open_publisher(server: RedisServer, **options) -> RedisPublisher:
    publisher = RedisPublisher(connect(BusAddress(server.url)), backoff=FAST, **options)
    await publisher.open()
    publisher.declare(PRICES)
    publisher.declare(TRADES)
    return publisher


async def open_reader(server: RedisServer, **options) -> RedisReader:
    reader = RedisReader(connect(BusAddress(server.url)), backoff=FAST, block_ms=100, refresh=0.1, **options)
    reader.health = LagHealth(HistoricalScheduler(), lags={BUS_STREAM: reader.lag})
    reader.health.register(BUS_STREAM)
    await reader.open()
    return reader


class Received:
    """What a reader delivered, and a wait for how many it has delivered (its own word: no polling)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def count(self, n: int, timeout: float = 10.0) -> None:
        """Return once ``n`` messages have arrived; fail after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < n:
                self._changed.clear()
                await self._changed.wait()


def triples(messages: list[Message]) -> list[tuple[str, int, bytes]]:
    return [(m.epoch, m.seq, m.payload) for m in messages]


def test_bus_urls_are_checked() -> None:
    assert parse_bus_url("redis://127.0.0.1:6379/0").url == "redis://127.0.0.1:6379/0"
    for bad in ("127.0.0.1:6379", "http://x", "redis://:6379/0", "redis://h:port/0", "redis://h:1/db"):
        with pytest.raises(ConfigError):
            parse_bus_url(bad)


async def test_gateways_read_what_the_ingest_numbered(redis_server: RedisServer) -> None:
    publisher = await open_publisher(redis_server)
    first = await open_reader(redis_server)
    second = await open_reader(redis_server)
    received = {"first": Received(), "second": Received()}
    first.subscribe(received["first"])
    second.subscribe(received["second"])
    published = [publisher.publish("trades", {"n": n}) for n in range(1, 201)]
    published += [publisher.publish("prices", {"symbol": s, "bid": b})
                  for b in (1.0, 2.0) for s in ("EURUSD", "GBPUSD")]
    for name, reader in (("first", first), ("second", second)):
        await received[name].count(len(published))
        got = sorted(received[name].messages, key=lambda m: (m.topic, m.seq))
        assert triples(got) == triples(sorted(published, key=lambda m: (m.topic, m.seq)))
        assert reader.epoch == publisher.epoch and reader.last_seq("trades") == 200
        assert [m.seq for m in reader.snapshot("prices")] == [3, 4]  # the latest per symbol, in seq order
        assert [m.data["bid"] for m in reader.snapshot("prices")] == [2.0, 2.0]
        assert [m.seq for m in reader.since("trades", 195) or []] == [196, 197, 198, 199, 200]
        assert [m.seq for m in reader.recent("trades", count=3)] == [198, 199, 200]
        assert reader.topics["prices"].policy == "state" and reader.topics["trades"].policy == "lossless"
    late = await open_reader(redis_server)  # a gateway started afterwards loads the window and the snapshot
    assert triples(late.since("trades", 0) or []) == triples(published[:200])
    assert triples(late.snapshot("prices")) == triples(first.snapshot("prices"))
    for reader in (first, second, late):
        await reader.close()
    await publisher.close()


async def test_a_restarted_ingest_keeps_the_epoch_continues_seq_and_never_republishes_a_fill(
    redis_server: RedisServer,
) -> None:
    publisher = await open_publisher(redis_server)
    epoch = publisher.epoch
    for n in range(1, 4):
        publisher.publish("trades", fill(n))
    await publisher.close()
    again = await open_publisher(redis_server)
    assert again.epoch == epoch and again.last_seq("trades") == 3
    resent = [again.publish("trades", fill(n)) for n in range(1, 5)]  # the broker sends the day's fills again
    assert [m.seq for m in resent] == [1, 2, 3, 4]  # three known (their first seq), one new
    await again.close()
    reader = await open_reader(redis_server)
    assert [m.data["exec_id"] for m in reader.since("trades", 0) or []] == [fill(n).exec_id for n in range(1, 5)]
    await reader.close()


async def test_retention_by_count_and_by_time_is_redis_s(redis_server: RedisServer) -> None:
    publisher = await open_publisher(redis_server, history_size=50, history_seconds=600)
    for n in range(500):
        publisher.publish("trades", {"n": n})
    await eventually(lambda: publisher.queued == 0)
    client = connect(BusAddress(redis_server.url))
    assert 50 <= await client.xlen(Layout().stream("trades")) < 500  # MAXLEN ~: about the last 50
    reader = await open_reader(redis_server, history_size=50)
    assert reader.since("trades", 400) is None  # outside the window: the client gets recovered false
    assert [m.seq for m in reader.since("trades", 490) or []] == list(range(491, 501))
    await reader.close()
    await publisher.close()
    timed = RedisPublisher(client, backoff=FAST, history_seconds=0.05, layout=Layout("timed"))
    await timed.open()
    timed.declare(TRADES)
    timed.publish("trades", {"n": 0})

    async def trimmed() -> bool:  # each later write trims entries older than 50 ms on Redis's clock
        timed.publish("trades", {"n": 1})
        first = await client.xrange(Layout("timed").stream("trades"), count=1)
        return bool(first) and first[0][1][b"s"] != b"1"

    await eventually(trimmed, interval=0.05)
    await timed.close()
    await client.aclose()


async def test_rewind_by_count_or_seconds_stays_inside_the_window(redis_server: RedisServer) -> None:
    now = datetime.now(UTC)
    clock = iter(now - timedelta(seconds=9 - n) for n in range(1000))  # one message a second, the last one now
    publisher = await open_publisher(redis_server, clock=lambda: next(clock))
    for n in range(10):
        publisher.publish("trades", {"n": n})
    reader = await open_reader(redis_server, clock=lambda: now)
    await eventually(lambda: reader.last_seq("trades") == 10)
    assert [m.seq for m in reader.recent("trades", seconds=2.5)] == [8, 9, 10]
    assert [m.seq for m in reader.recent("trades", count=2)] == [9, 10]
    assert [m.seq for m in reader.recent("trades", count=50)] == list(range(1, 11))  # never past the window
    with pytest.raises(ConfigError):
        reader.recent("trades", count=2, seconds=2)
    await reader.close()
    await publisher.close()


async def test_one_writer_a_standby_takes_over(redis_server: RedisServer) -> None:
    client = connect(BusAddress(redis_server.url))
    first = Lease(client, "rxstream:lease", ttl=0.3, owner="first")
    second = Lease(client, "rxstream:lease", ttl=0.3, owner="second")
    assert await first.acquire() and not await second.acquire()
    holder = await second.holder()
    assert holder is not None and holder.owner == "first" and 0 < holder.expires_in <= 0.3
    assert await first.renew() and not await second.renew()  # a lease is only renewed by its holder
    assert await second.wait()  # first stops renewing (killed): second takes over once it expires
    assert not await first.renew()  # ... and the old holder can no longer extend it
    await second.release()
    assert await first.acquire()
    await client.aclose()


async def test_redis_restart_loses_nothing_and_health_shows_the_outage(redis_server: RedisServer) -> None:
    publisher = await open_publisher(redis_server)
    publisher.health = HealthMonitor(HistoricalScheduler())
    reader = await open_reader(redis_server)
    received = Received()
    reader.subscribe(received)
    for n in range(100):
        publisher.publish("trades", {"n": n})
    await received.count(100)
    # The reader can see a batch before the publisher has read Redis's reply to it: stopping Redis
    # then would lose that reply (the case test_a_lost_reply_is_reconciled_not_written_twice covers).
    await eventually(lambda: publisher.queued == 0)
    redis_server.stop()
    for n in range(100, 300):  # published while Redis is away: buffered in order
        publisher.publish("trades", {"n": n})
    await eventually(lambda: reader.health.snapshot()[BUS_STREAM]["is_healthy"] is False)
    await eventually(lambda: publisher.health.snapshot()[PUBLISH_STREAM]["is_healthy"] is False)
    down = reader.health.snapshot()[BUS_STREAM]
    assert "redis unreachable" in down["last_error"] and down["lag_seconds"] >= 0
    assert publisher.queued == 200
    redis_server.start()  # same port, same data directory (append-only file)
    await received.count(300, timeout=20)
    assert [m.seq for m in received.messages] == list(range(1, 301))
    assert [m.data["n"] for m in received.messages] == list(range(300))
    assert reader.health.snapshot()[BUS_STREAM]["is_healthy"] is True
    await eventually(lambda: publisher.health.snapshot()[PUBLISH_STREAM]["is_healthy"] is True)
    assert reader.since("trades", 0) is not None and len(reader.since("trades", 0) or []) == 300
    await reader.close()
    await publisher.close()


async def test_a_lost_reply_is_reconciled_not_written_twice(redis_server: RedisServer) -> None:
    """A batch Redis wrote but whose reply never came back is recognised on reconnect, not written again."""
    async with ReplyCutter(redis_server.port) as relay:
        publisher = RedisPublisher(connect(BusAddress(relay.url)), backoff=FAST)
        publisher.health = HealthMonitor(HistoricalScheduler())
        await publisher.open()
        publisher.declare(TRADES)
        publisher.publish("trades", {"n": 0})
        await eventually(lambda: publisher.queued == 0)  # the script is loaded: the next batch is one call
        relay.lose_next_reply()
        for n in range(1, 101):
            publisher.publish("trades", {"n": n})
        async with asyncio.timeout(10):
            await relay.lost.wait()
        await eventually(lambda: publisher.queued == 0)
        assert publisher.health.snapshot()[PUBLISH_STREAM]["recovery_attempts"] == 1
        await publisher.close()
    client = connect(BusAddress(redis_server.url))
    assert await client.xlen(Layout().stream("trades")) == 101
    await client.aclose()
    reader = await open_reader(redis_server)
    assert [(m.seq, m.data["n"]) for m in reader.since("trades", 0) or []] == [(n + 1, n) for n in range(101)]
    await reader.close()


async def test_a_full_buffer_drops_the_oldest_and_says_so(redis_server: RedisServer) -> None:
    publisher = await open_publisher(redis_server, buffer_limit=10)
    publisher.health = HealthMonitor(HistoricalScheduler())
    redis_server.stop()
    for n in range(25):
        publisher.publish("trades", {"n": n})
    assert publisher.dropped == 15 and publisher.queued == 10
    assert "buffer full" in publisher.health.snapshot()[PUBLISH_STREAM]["last_error"]
    redis_server.start()
    await eventually(lambda: publisher.queued == 0, timeout=20)
    reader = await open_reader(redis_server)
    assert [m.seq for m in reader.since("trades", 15) or []] == list(range(16, 26))
    assert reader.since("trades", 0) is None  # the dropped ones are a gap: a client resuming there gets a snapshot
    await reader.close()
    await publisher.close()


async def test_a_reader_closed_at_any_moment_stops(redis_server: RedisServer) -> None:
    """``close()`` returns even when it lands in the loop turn in which a command's write finishes.

    There, on Python 3.11, redis-py's ``asyncio.wait_for`` swallows the cancellation (CPython
    gh-86296) and a reader that relied on it alone followed Redis forever: a gateway's shutdown
    hung. Each round closes the reader one more loop turn after a delivery, across that turn.
    """
    publisher = await open_publisher(redis_server)
    for turns in range(8):
        reader = await open_reader(redis_server)
        received = Received()
        reader.subscribe(received)
        publisher.publish("trades", {"n": turns})
        await received.count(1)  # woken the turn after the delivery, as the reader sends its next command
        for _ in range(turns):
            await asyncio.sleep(0)  # one loop turn later each round (a step, not a wait for a condition)
        async with asyncio.timeout(5):
            await reader.close()
    await publisher.close()
