"""IBKRFeed in a real Engine, over the real ib_insync client and TCP, against the TWS simulator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from rxstream.engine import Engine
from rxstream.errors import OrderError, SourceConnectionError
from rxstream.events import Fill, PositionUpdate, Tick
from rxstream.ibkr import IBKRConfig
from rxstream.ibkr.source import FeedState, IBKRFeed
from rxstream.testing import DEFAULT_ACCOUNT, TwsSimulator

STREAMS = ("ibkr.ticks", "ibkr.positions", "ibkr.fills")


def config(port: int, **overrides: Any) -> IBKRConfig:
    """Small backoff and timeouts: every test here finishes in well under a second or two."""
    settings: dict[str, Any] = dict(
        port=port, symbols=["EURUSD", "AAPL"], backoff_initial=0.01, backoff_max=0.05, connect_timeout=1.0,
        commission_wait=0.3, heartbeat_interval=0,
    )
    settings.update(overrides)
    return IBKRConfig(**settings)


class Collected:
    """Everything the feed pushed into the engine's standard sources."""

    def __init__(self, engine: Engine) -> None:
        self.ticks: list[Tick] = []
        self.positions: list[PositionUpdate] = []
        self.fills: list[Fill] = []
        engine.sources["ticks"].subscribe(self.ticks.append)
        engine.sources["positions"].subscribe(self.positions.append)
        engine.sources["fills"].subscribe(self.fills.append)


@asynccontextmanager
async def running(feed: IBKRFeed) -> AsyncIterator[tuple[Engine, Collected]]:
    engine = Engine(pipelines=[], feeds=[feed])
    seen = Collected(engine)
    async with engine:
        yield engine, seen


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    async with TwsSimulator(speed=0) as simulator:
        simulator.push_tick(Tick("EURUSD", datetime(2020, 1, 1, 22, tzinfo=UTC), 1.1212, 1.1214))
        yield simulator


def healthy(engine: Engine) -> dict[str, bool]:
    assert engine.health is not None
    return {name: engine.health.is_healthy(name) for name in STREAMS}


async def ready(feed: IBKRFeed, sim: TwsSimulator, connections: int = 1) -> None:
    """Connected ``connections`` times and subscribed to both symbols."""
    await feed.wait_for(lambda: feed.state is FeedState.CONNECTED and feed.connections >= connections)
    await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1 and sim.subscribers("AAPL") == 1)


async def test_ticks_positions_and_fills_reach_the_engine(sim: TwsSimulator) -> None:
    feed = IBKRFeed(config(sim.port))
    async with running(feed) as (engine, seen):
        await ready(feed, sim)
        assert healthy(engine) == dict.fromkeys(STREAMS, True)
        assert {(p.account, p.symbol, p.quantity) for p in seen.positions} >= {
            (DEFAULT_ACCOUNT, "EURUSD", 100_000.0), (DEFAULT_ACCOUNT, "AAPL", 50.0),
        }
        await feed.wait_for(lambda: any(t.bid == 1.1212 for t in seen.ticks))  # the quote at subscribe
        sim.push_tick(Tick("AAPL", datetime.now(UTC), 190.0, 190.1, 190.05, 100.0, 200.0, 5.0, 1000.0))
        await feed.wait_for(lambda: any(t.symbol == "AAPL" for t in seen.ticks))
        aapl = next(t for t in seen.ticks if t.symbol == "AAPL")
        assert (aapl.bid, aapl.ask, aapl.last, aapl.bid_size, aapl.ask_size, aapl.volume) == (
            190.0, 190.1, 190.05, 100.0, 200.0, 1000.0,
        )
        assert aapl.time.tzinfo is UTC

        filled: list[Fill] = []
        feed.add_order_filled_callback(filled.append)
        order_id = feed.orders.place_market_order("EURUSD", "BUY", 20_000)
        await feed.wait_for(lambda: len(seen.fills) == 1)
        (fill,) = seen.fills
        assert (fill.symbol, fill.side, fill.quantity, fill.price, fill.commission) == (
            "EURUSD", "BUY", 20_000.0, 1.1214, 2.0
        )
        assert (fill.order_id, fill.account) == (order_id, DEFAULT_ACCOUNT)
        assert fill.exec_id == sim.executions[0].exec_id and filled == [fill]
        await feed.wait_for(lambda: any(p.quantity == 120_000.0 for p in seen.positions))
        assert engine.health.get("ibkr.fills").total_updates >= 1  # type: ignore[union-attr]
    if not (feed.state is FeedState.STOPPED and not sim.sessions):
        await sim.wait_for(lambda: not sim.sessions)


async def test_drop_mid_stream_reconnects_and_recovers_fills_once(sim: TwsSimulator) -> None:
    feed = IBKRFeed(config(sim.port))
    async with running(feed) as (engine, seen):
        await ready(feed, sim)
        feed.orders.place_market_order("EURUSD", "SELL", 10_000)
        await feed.wait_for(lambda: len(seen.fills) == 1)

        sim.refuse_connections(times=1)  # the first reconnect fails too
        sim.drop_connections()
        await feed.wait_for(lambda: feed.state is not FeedState.CONNECTED)
        assert healthy(engine) == dict.fromkeys(STREAMS, False)  # at once, not after a staleness timeout
        assert "disconnected from 127.0.0.1" in engine.health.get("ibkr.ticks").last_error  # type: ignore[union-attr,operator]
        outage = sim.fill("AAPL", "BUY", 10)  # happens while the feed is away

        await ready(feed, sim, connections=2)
        await feed.wait_for(lambda: len(seen.fills) == 2)
        assert [f.exec_id for f in seen.fills] == [sim.executions[0].exec_id, outage.exec_id]
        assert seen.fills[1].commission == 1.0 and seen.fills[1].symbol == "AAPL"
        assert healthy(engine) == dict.fromkeys(STREAMS, True)
        status = engine.health.snapshot()  # type: ignore[union-attr]
        for name in ("ibkr.positions", "ibkr.fills"):  # the outage is history now, shown with its time
            assert status[name]["last_error"] and status[name]["last_error_at"] <= status[name]["last_update"]
        assert sim.refused == 1 and feed.disconnects == 1
        assert feed.recovery_attempts >= 2
        assert all(engine.health.get(s).recovery_attempts >= 2 for s in STREAMS)  # type: ignore[union-attr]

        before = len(seen.ticks)
        sim.push_tick(Tick("EURUSD", datetime.now(UTC), 1.3, 1.3002))
        await feed.wait_for(lambda: any(t.bid == 1.3 for t in seen.ticks[before:]))  # market data resumed

        # a third session gets every execution again: still nothing published twice
        sim.drop_connections()
        await ready(feed, sim, connections=3)
        await feed.recover_fills()
        assert len(seen.fills) == 2 and feed.published_fills == 2


async def test_unreachable_tws_is_logged_with_host_and_port_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rxstream.ibkr.source")
    sim = TwsSimulator(speed=0)
    await sim.start()
    port = sim.port
    sim.refuse_connections(seconds=0.3)  # nothing listens: ECONNREFUSED, as when TWS is not running
    feed = IBKRFeed(config(port))
    try:
        async with running(feed) as (engine, _):
            await feed.wait_for(lambda: feed.recovery_attempts >= 2)
            assert healthy(engine) == dict.fromkeys(STREAMS, False)
            status = engine.health.snapshot()["ibkr.ticks"]  # type: ignore[union-attr]
            assert f"cannot connect to 127.0.0.1:{port}" in status["last_error"]
            assert status["recovery_attempts"] >= 2 and status["error_count"] >= 2
            assert f"cannot connect to 127.0.0.1:{port}" in caplog.text and "retrying in" in caplog.text
            await ready(feed, sim)  # once TWS listens again
            assert healthy(engine) == dict.fromkeys(STREAMS, True)
    finally:
        await sim.stop()


async def test_accepted_then_closed_fails_fast_not_by_timeout(sim: TwsSimulator) -> None:
    sim.refuse_connections(times=3)
    feed = IBKRFeed(config(sim.port, connect_timeout=30.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with running(feed):
        await ready(feed, sim)
    assert sim.refused == 3 and loop.time() - started < 5


async def test_client_id_in_use_tries_the_next_ids(sim: TwsSimulator) -> None:
    sim.hold_client_id(1)
    sim.hold_client_id(2)
    feed = IBKRFeed(config(sim.port, client_id=1, client_id_range=4))
    async with running(feed) as (_engine, _):
        await ready(feed, sim)
        assert feed.client_id == 3 and [s.client_id for s in sim.sessions] == [3]
        sim.drop_connections()
        await ready(feed, sim, connections=2)
        assert feed.client_id == 3  # sticks with the id that worked


async def test_all_client_ids_in_use_backs_off_then_connects(sim: TwsSimulator) -> None:
    for client_id in (1, 2):
        sim.hold_client_id(client_id)
    feed = IBKRFeed(config(sim.port, client_id=1, client_id_range=2))
    async with running(feed) as (engine, _):
        await feed.wait_for(lambda: feed.recovery_attempts >= 4)
        assert "326" in engine.health.get("ibkr.fills").last_error  # type: ignore[union-attr,operator]
        sim.release_client_id(2)
        await ready(feed, sim)
        assert feed.client_id == 2


@pytest.mark.parametrize("restored", [1101, 1102])
async def test_connectivity_lost_and_restored(sim: TwsSimulator, restored: int) -> None:
    feed = IBKRFeed(config(sim.port))
    async with running(feed) as (engine, seen):
        await ready(feed, sim)
        sim.send_error(1100)
        await feed.wait_for(lambda: not any(healthy(engine).values()))
        assert "1100" in engine.health.get("ibkr.positions").last_error  # type: ignore[union-attr,operator]
        sim.fill("EURUSD", "BUY", 1000)  # during the IB-side outage
        sim.send_error(restored)
        await feed.wait_for(lambda: feed.resubscriptions == 1 and len(seen.fills) == 1)
        assert healthy(engine) == dict.fromkeys(STREAMS, True)
        await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1 and sim.subscribers("AAPL") == 1)
        assert engine.health.get("ibkr.ticks").recovery_attempts == 1  # type: ignore[union-attr]
        sim.push_tick(Tick("EURUSD", datetime.now(UTC), 1.25, 1.2502))
        await feed.wait_for(lambda: seen.ticks[-1].bid == 1.25)


async def test_market_data_farm_blip(sim: TwsSimulator) -> None:
    feed = IBKRFeed(config(sim.port))
    async with running(feed) as (engine, seen):
        await ready(feed, sim)
        assert feed.resubscriptions == 0  # the 2104 greeting at connect is not a blip
        sim.send_error(2103)
        await feed.wait_for(lambda: not healthy(engine)["ibkr.ticks"])
        assert healthy(engine) == {"ibkr.ticks": False, "ibkr.positions": True, "ibkr.fills": True}
        sim.send_error(2104)
        await feed.wait_for(lambda: feed.resubscriptions == 1)
        assert healthy(engine) == dict.fromkeys(STREAMS, True)
        await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1)
        sim.push_tick(Tick("EURUSD", datetime.now(UTC), 1.4, 1.4002))
        await feed.wait_for(lambda: seen.ticks[-1].bid == 1.4)


async def test_fill_without_commission_report_is_published_after_the_wait() -> None:
    async with TwsSimulator(speed=0, commission_reports=False) as sim:
        feed = IBKRFeed(config(sim.port, commission_wait=0.05))
        async with running(feed) as (_, seen):
            await ready(feed, sim)
            feed.place_market_order("EURUSD", "BUY", 1000)
            await feed.wait_for(lambda: len(seen.fills) == 1)
            assert seen.fills[0].commission is None


async def test_order_filled_callbacks(sim: TwsSimulator, caplog: pytest.LogCaptureFixture) -> None:
    feed = IBKRFeed(config(sim.port))
    sync_seen: list[Fill] = []
    async_seen: asyncio.Future[Fill] = asyncio.get_running_loop().create_future()
    removed: list[Fill] = []

    def broken(fill: Fill) -> None:
        raise RuntimeError("callback bug")

    async def on_fill(fill: Fill) -> None:
        async_seen.set_result(fill)

    for callback in (broken, sync_seen.append, on_fill, removed.append):
        feed.add_order_filled_callback(callback)
    feed.remove_order_filled_callback(removed.append)
    async with running(feed):
        await ready(feed, sim)
        feed.place_market_order("EURUSD", "BUY", 1000)
        fill = await asyncio.wait_for(async_seen, 2)
        assert sync_seen == [fill] and removed == []
        assert "callback bug" in caplog.text
    assert feed._callbacks == []  # stop unregisters every callback


async def test_heartbeat_keeps_quiet_streams_fresh(sim: TwsSimulator) -> None:
    feed = IBKRFeed(config(sim.port, heartbeat_interval=0.02))
    async with running(feed) as (engine, _):
        await ready(feed, sim)
        before = engine.health.get("ibkr.fills").total_updates  # type: ignore[union-attr]
        await feed.wait_for(lambda: engine.health.get("ibkr.fills").total_updates >= before + 2)  # type: ignore[union-attr]


async def test_start_twice_and_stop_twice() -> None:
    feed = IBKRFeed(config(1))
    engine = Engine(pipelines=[])
    async with engine:
        await feed.start(engine.feed_context())
        with pytest.raises(RuntimeError, match="already started"):
            await feed.start(engine.feed_context())
        await feed.stop()
        await feed.stop()
    assert feed.state is FeedState.STOPPED


def test_orders_refuse_what_cannot_be_placed() -> None:
    orders = IBKRFeed(config(1)).orders
    with pytest.raises(OrderError, match="'GBPUSD' is not one of the feed's symbols"):
        orders.place_market_order("GBPUSD", "BUY", 1000)
    for side, quantity in (("HOLD", 1000), ("BUY", 0), ("SELL", -5)):
        with pytest.raises(OrderError, match="BUY or SELL and a positive quantity"):
            orders.place_market_order("EURUSD", side, quantity)
    with pytest.raises(SourceConnectionError, match="not connected: order not sent"):
        orders.place_market_order("eurusd", "BUY", 1000)
