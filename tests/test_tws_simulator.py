"""The TWS simulator against the real, unmodified ib_insync client over loopback TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tws_support import next_event

from rxstream.events import Tick
from rxstream.ibkr.api import IB, Forex, Future, LimitOrder, MarketOrder, Stock
from rxstream.testing import DEFAULT_ACCOUNT, SimPosition, TwsSimulator

T0 = datetime(2020, 1, 1, 22, tzinfo=UTC)


def tick(bid: float, *, seconds: float = 0.0, symbol: str = "EURUSD", **extra: Any) -> Tick:
    return Tick(symbol, T0 + timedelta(seconds=seconds), bid, round(bid + 0.0002, 6), **extra)


async def close(ib: IB) -> None:
    """Disconnect and wait until the socket is really closed (no transport left behind)."""
    conn = ib.client.conn
    if conn.transport is not None:
        gone = next_event(conn.disconnected)
        ib.disconnect()
        await asyncio.wait_for(gone, 2)


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    async with TwsSimulator(speed=0) as simulator:
        yield simulator


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    """``await connect(port, client_id)``: a connected IB, closed after the test."""
    clients: list[IB] = []

    async def make(port: int, client_id: int = 1, timeout: float = 2.0) -> IB:
        ib = IB()
        clients.append(ib)
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=timeout)
        return ib

    yield make
    for ib in clients:
        await close(ib)


async def qualified(ib: IB, contract: Any) -> Any:
    """``contract`` with its conId filled in (ib_async requests market data only for such contracts)."""
    (done,) = await ib.qualifyContractsAsync(contract)
    return done




async def test_connect_syncs_without_waiting_on_any_request(sim: TwsSimulator, connect: Any) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    ib = await connect(sim.port, client_id=7)
    assert loop.time() - started < 1.0  # any unanswered sync request would cost the 2 s timeout
    assert ib.managedAccounts() == [DEFAULT_ACCOUNT]
    held = {(p.account, p.contract.localSymbol): (p.position, p.avgCost) for p in ib.positions()}
    assert held == {(DEFAULT_ACCOUNT, "EUR.USD"): (100_000.0, 1.1205), (DEFAULT_ACCOUNT, "AAPL"): (50.0, 185.25)}
    assert any(v.tag == "NetLiquidation" for v in ib.accountValues())
    assert sim.sessions[0].client_id == 7 and sim.sessions[0].ready
    assert (await ib.reqCurrentTimeAsync()).tzinfo is not None


async def test_qualify_contracts(sim: TwsSimulator, connect: Any) -> None:
    ib = await connect(sim.port)
    fx, stock, unknown = Forex("EURUSD"), Stock("AAPL", "SMART", "USD"), Future("ES", "202003", "CME")
    qualified = await ib.qualifyContractsAsync(fx, stock, unknown)
    assert [c for c in qualified if c is not None] == [fx, stock]  # ib_async keeps a None for the unknown one
    assert (fx.conId, fx.localSymbol, stock.conId, stock.exchange) == (12087792, "EUR.USD", 265598, "SMART")


async def test_market_data_from_push_tick(sim: TwsSimulator, connect: Any) -> None:
    ib = await connect(sim.port)
    ticker = ib.reqMktData(await qualified(ib, Forex("EURUSD")))
    await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1)
    updated = next_event(ib.pendingTickersEvent)
    assert sim.push_tick(tick(1.1212, bid_size=1e6, ask_size=2e6, last=1.1213, last_size=5.0, volume=9.0)) == 1
    (got,) = await asyncio.wait_for(updated, 2)
    assert got is ticker
    assert (ticker.bid, ticker.ask, ticker.bidSize, ticker.askSize) == (1.1212, 1.1214, 1e6, 2e6)
    assert (ticker.last, ticker.lastSize, ticker.volume) == (1.1213, 5.0, 9.0)


async def test_subscriber_gets_the_current_quote_at_once(sim: TwsSimulator, connect: Any) -> None:
    sim.push_tick(tick(1.3000, symbol="GBPUSD"))
    ib = await connect(sim.port)
    updated = next_event(ib.pendingTickersEvent)
    ticker = ib.reqMktData(await qualified(ib, Forex("GBPUSD")))
    await asyncio.wait_for(updated, 2)
    assert ticker.bid == 1.3
    ib.cancelMktData(ticker.contract)
    await sim.wait_for(lambda: sim.subscribers("GBPUSD") == 0)


async def test_market_order_fills_at_the_quote_with_commission(sim: TwsSimulator, connect: Any) -> None:
    sim.push_tick(tick(1.1212))
    ib = await connect(sim.port, client_id=3)
    contract = Forex("EURUSD")
    reported = next_event(ib.commissionReportEvent)
    position = next_event(ib.positionEvent)
    trade = ib.placeOrder(contract, MarketOrder("BUY", 20_000))
    _, fill, report = await asyncio.wait_for(reported, 2)
    assert trade.orderStatus.status == "Filled" and trade.order.permId > 0
    assert (fill.execution.side, fill.execution.shares, fill.execution.price) == ("BOT", 20_000.0, 1.1214)
    assert (fill.execution.clientId, fill.execution.orderId) == (3, trade.order.orderId)
    assert report.execId == fill.execution.execId and report.commission == 2.0
    moved = await asyncio.wait_for(position, 2)
    assert moved.position == 120_000.0
    average = (100_000 * 1.1205 + 20_000 * 1.1214) / 120_000
    assert sim.positions[(DEFAULT_ACCOUNT, "EURUSD")] == (120_000.0, pytest.approx(average))
    (record,) = sim.executions
    assert record.exec_id == fill.execution.execId


async def test_sell_fills_at_bid_and_stock_commission(sim: TwsSimulator, connect: Any) -> None:
    sim.push_tick(Tick("AAPL", T0, 190.0, 190.1))
    ib = await connect(sim.port)
    reported = next_event(ib.commissionReportEvent)
    ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("SELL", 50))
    _, fill, report = await asyncio.wait_for(reported, 2)
    assert (fill.execution.side, fill.execution.price, report.commission) == ("SLD", 190.0, 1.0)
    assert sim.positions[(DEFAULT_ACCOUNT, "AAPL")] == (0.0, 0.0)


async def test_limit_order_rests_until_cancelled(sim: TwsSimulator, connect: Any) -> None:
    sim.push_tick(tick(1.1212))
    ib = await connect(sim.port)
    submitted = next_event(ib.orderStatusEvent, lambda t: t.orderStatus.status == "Submitted")
    trade = ib.placeOrder(Forex("EURUSD"), LimitOrder("BUY", 10_000, 1.0))
    await asyncio.wait_for(submitted, 2)
    assert [t.order.orderId for t in await ib.reqOpenOrdersAsync()] == [trade.order.orderId]
    cancelled = next_event(ib.orderStatusEvent, lambda t: t.orderStatus.status == "Cancelled")
    ib.cancelOrder(trade.order)
    await asyncio.wait_for(cancelled, 2)
    assert sim.executions == ()


async def test_paced_streaming_follows_the_timestamps() -> None:
    ticks = [tick(1.1 + i / 10_000, seconds=i * 0.5) for i in range(5)]  # 2 s of ticks at 20x: 0.1 s
    async with TwsSimulator(ticks, speed=20) as sim:
        ib = IB()
        try:
            await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=2)
            loop = asyncio.get_running_loop()
            ticker = ib.reqMktData(await qualified(ib, Forex("EURUSD")))
            await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1)
            started = loop.time()
            last = next_event(ib.pendingTickersEvent, lambda ts: ticker.bid == ticks[-1].bid)
            await asyncio.wait_for(last, 2)
            assert loop.time() - started >= 0.09
            assert sim.streaming_done.is_set() and sim.ticks_pushed == 5
        finally:
            await close(ib)


async def test_unpaced_streaming_loops(connect: Any) -> None:
    ticks = [tick(1.1), tick(1.2), tick(1.3)]
    async with TwsSimulator(ticks, speed=0, loop=True) as sim:
        ib = await connect(sim.port)
        ib.reqMktData(await qualified(ib, Forex("EURUSD")))
        await sim.wait_for(lambda: sim.ticks_pushed >= 10)
        assert not sim.streaming_done.is_set()
        await close(ib)


async def test_drop_connections_disconnects_the_client(sim: TwsSimulator, connect: Any) -> None:
    ib = await connect(sim.port)
    gone = next_event(ib.disconnectedEvent)
    assert sim.drop_connections() == 1
    await asyncio.wait_for(gone, 2)
    assert not ib.isConnected()
    await sim.wait_for(lambda: not sim.sessions)


async def test_refuse_connections_for_a_while(sim: TwsSimulator, connect: Any) -> None:
    sim.refuse_connections(seconds=0.2)
    assert not sim.listening
    with pytest.raises(ConnectionRefusedError):
        await connect(sim.port)
    await sim.wait_for(lambda: sim.listening, timeout=2)
    assert (await connect(sim.port)).isConnected()


async def test_refuse_connections_n_times(sim: TwsSimulator, connect: Any) -> None:
    sim.refuse_connections(times=1)
    with pytest.raises(asyncio.TimeoutError):  # the plain client only notices by its timeout
        await connect(sim.port, timeout=0.3)
    assert sim.refused == 1
    assert (await connect(sim.port)).isConnected()
    assert sim.connections == 1


async def test_client_id_in_use_gets_326(sim: TwsSimulator, connect: Any) -> None:
    first = await connect(sim.port, client_id=5)
    second = IB()
    in_use = next_event(second.errorEvent, lambda req_id, code, *_: code == 326)
    attempt = asyncio.ensure_future(second.connectAsync("127.0.0.1", sim.port, clientId=5, timeout=2))
    await asyncio.wait_for(in_use, 2)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await close(second)
    assert first.isConnected()
    sim.hold_client_id(6)
    held = IB()
    in_use = next_event(held.errorEvent, lambda req_id, code, *_: code == 326)
    attempt = asyncio.ensure_future(held.connectAsync("127.0.0.1", sim.port, clientId=6, timeout=2))
    await asyncio.wait_for(in_use, 2)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await close(held)


@pytest.mark.parametrize("code", [1100, 1101, 1102, 2103, 2104])
async def test_send_error(sim: TwsSimulator, connect: Any, code: int) -> None:
    ib = await connect(sim.port)
    got = next_event(ib.errorEvent, lambda req_id, c, *_: c == code)
    assert sim.send_error(code) == 1
    req_id, _, text, _ = await asyncio.wait_for(got, 2)
    assert req_id == -1 and text


async def test_executions_are_resent_after_a_reconnect(sim: TwsSimulator, connect: Any) -> None:
    ib = await connect(sim.port, client_id=2)
    reported = next_event(ib.commissionReportEvent)
    ib.placeOrder(Forex("EURUSD"), MarketOrder("SELL", 10_000))
    _, fill, _ = await asyncio.wait_for(reported, 2)
    sim.fill("AAPL", "BUY", 10)  # a manual TWS order while nobody listens
    sim.drop_connections()
    await sim.wait_for(lambda: not sim.sessions)
    again = await connect(sim.port, client_id=2)
    recovered = {f.execution.execId: f for f in again.fills()}
    assert set(recovered) == {e.exec_id for e in sim.executions} and fill.execution.execId in recovered
    assert all(f.commissionReport.commission > 0 for f in recovered.values())
    assert {f.execution.execId for f in await again.reqExecutionsAsync()} == set(recovered)


async def test_resend_can_be_switched_off(connect: Any) -> None:
    async with TwsSimulator(speed=0, resend_executions=False, positions=[]) as sim:
        sim.fill("EURUSD", "SELL", 1000, price=1.2)
        ib = await connect(sim.port)
        assert ib.fills() == []
        assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("EUR", -1000.0)]
        assert sim.positions == {(DEFAULT_ACCOUNT, "EURUSD"): (-1000.0, 1.2)}


async def test_custom_positions(connect: Any) -> None:
    async with TwsSimulator(speed=0, positions=[SimPosition("DU7", "MSFT", 3, 400.0)], account="DU7") as sim:
        ib = await connect(sim.port)
        (p,) = ib.positions()
        assert (p.account, p.contract.symbol, p.contract.conId, p.position) == ("DU7", "MSFT", 272093, 3.0)


async def test_stop_closes_every_client(connect: Any) -> None:
    sim = TwsSimulator(speed=0)
    await sim.start()
    ib = await connect(sim.port)
    gone = next_event(ib.disconnectedEvent)
    await sim.stop()
    await asyncio.wait_for(gone, 2)
    assert not sim.listening and not sim.sessions


async def test_protocol_garbage_closes_only_that_connection(sim: TwsSimulator, connect: Any) -> None:
    ib = await connect(sim.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await writer.wait_closed()
    assert ib.isConnected() and len(sim.sessions) == 1
