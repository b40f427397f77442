"""Historical bars, account summary, portfolio, what-if and unsupported requests: the unmodified
ib_insync client over loopback TCP against the simulator serving the bundled session."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tws_support import next_event

from rxstream.events import Tick
from rxstream.ibkr.api import IB, Contract, Forex, LimitOrder, MarketOrder, Stock
from rxstream.testing import DEFAULT_ACCOUNT, TwsSimulator
from rxstream.testing.handlers import Handlers
from rxstream.testing.requests import REQUEST_TYPES
from rxstream.tickfile import bundled_session, read_events

SESSION = [e for e in read_events(bundled_session()) if isinstance(e, Tick)]
T0 = datetime(2020, 1, 1, 22, tzinfo=UTC)


def expected(step: float, what: str, start: datetime | None = None, end: datetime | None = None) -> list[tuple]:
    """Bars from the tick file computed the plain way (window index, first/max/min/last) in [start, end]."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for t in SESSION:
        if (start and t.time < start) or (end and t.time > end) or t.bid is None or t.ask is None:
            continue
        low, high = {"MIDPOINT": ((t.bid + t.ask) / 2,) * 2, "BID": (t.bid,) * 2, "ASK": (t.ask,) * 2,
                     "BID_ASK": (t.bid, t.ask)}[what]
        groups.setdefault(math.floor(t.time.timestamp() / step), []).append((low, high))
    return [
        (datetime.fromtimestamp(i * step, UTC), p[0][0], max(h for _, h in p), min(lo for lo, _ in p), p[-1][1], len(p))
        for i, p in sorted(groups.items())
    ]


def served(bars: Any) -> list[tuple]:
    out = []
    for b in bars:
        date = b.date if isinstance(b.date, datetime) else datetime(b.date.year, b.date.month, b.date.day, tzinfo=UTC)
        out.append((date.astimezone(UTC), b.open, b.high, b.low, b.close, b.barCount))
    return out


def same(got: list[tuple], want: list[tuple]) -> None:
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[5] for g in got] == [w[5] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[1:5] == pytest.approx(w[1:5], abs=1e-9)


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    async with TwsSimulator(lambda: read_events(bundled_session()), speed=0) as simulator:
        yield simulator


@pytest.fixture
async def ib(sim: TwsSimulator) -> AsyncIterator[IB]:
    client = IB()
    client.RaiseRequestErrors = False
    await client.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=2)
    yield client
    gone = asyncio.get_running_loop().create_future()
    client.client.conn.disconnected += lambda *a: gone.done() or gone.set_result(None)
    client.disconnect()
    await asyncio.wait_for(gone, 2)




async def history(ib: IB, *, end: Any = "", duration: str = "30 D", size: str = "1 hour", what: str = "MIDPOINT",
                  contract: Contract | None = None, **kw: Any) -> Any:
    return await asyncio.wait_for(ib.reqHistoricalDataAsync(
        contract or Forex("EURUSD"), endDateTime=end, durationStr=duration, barSizeSetting=size, whatToShow=what,
        useRTH=True, timeout=0, **kw), 5)


@pytest.mark.parametrize(
    ("size", "seconds", "what"),
    [("1 hour", 3600, "MIDPOINT"), ("5 mins", 300, "BID"), ("1 min", 60, "ASK"), ("30 secs", 30, "BID_ASK"),
     ("1 day", 86400, "MIDPOINT"), ("1 secs", 1, "MIDPOINT")],
)
async def test_bars_of_the_whole_session_match_the_tick_file(ib: IB, size: str, seconds: int, what: str) -> None:
    bars = await history(ib, size=size, what=what)
    same(served(bars), expected(seconds, what))


async def test_end_time_and_duration_are_honoured(ib: IB) -> None:
    end = datetime(2020, 1, 2, 1, 30, tzinfo=UTC)
    bars = await history(ib, end=end, duration="3600 S", size="5 mins", what="BID")  # ib_insync sends it as UTC
    same(served(bars), expected(300, "BID", end - timedelta(hours=1), end))
    assert served(bars)[0][0] == datetime(2020, 1, 2, 0, 30, tzinfo=UTC)
    text = await history(ib, end="20200102 01:30:00 UTC", duration="1 D", size="1 hour")
    assert [b.date.hour for b in text] == [22, 23, 0, 1]


async def test_empty_end_is_the_replay_position_once_streaming(sim: TwsSimulator, ib: IB) -> None:
    ib.reqMktData(Forex("EURUSD", conId=12087792))  # qualified: ib_async subscribes only with a conId
    await sim.wait_for(lambda: sim.ticks_pushed >= 100)
    async with asyncio.timeout(5):
        await sim.wait_for(lambda: sim.streaming_done.is_set())  # speed 0, no loop: the whole file streamed
    bars = await history(ib, size="1 hour")
    assert len(bars) == 7  # 22:00 .. 04:00, all streamed


async def test_epoch_dates_with_format_date_2(ib: IB) -> None:
    bars = await history(ib, size="1 hour", formatDate=2)
    assert bars[0].date == datetime(2020, 1, 1, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kw", "code"),
    [({"size": "1 week"}, 162), ({"duration": "1 Q"}, 162), ({"what": "HISTORICAL_VOLATILITY"}, 162),
     ({"what": "TRADES"}, 162), ({"end": "20190101 00:00:00 UTC"}, 162),
     ({"contract": Contract(secType="FUT", symbol="ES")}, 200)],
)
async def test_bad_historical_requests_get_an_error_at_once(ib: IB, kw: dict[str, Any], code: int) -> None:
    error = next_event(ib.errorEvent)
    bars = await history(ib, **kw)  # ended by the error, not by a timeout (history() allows 5 s)
    assert len(bars) == 0 and (await asyncio.wait_for(error, 5))[1] == code


async def test_keep_up_to_date_streams_new_bars() -> None:
    async with TwsSimulator(speed=0, farm_messages=False) as sim:
        client = IB()
        await client.connectAsync("127.0.0.1", sim.port, clientId=2, timeout=2)
        try:
            for s in range(12):
                sim.push_tick(Tick("EURUSD", T0 + timedelta(seconds=s), 1.1 + s / 1000, 1.1002 + s / 1000))
            bars = await asyncio.wait_for(client.reqHistoricalDataAsync(
                Forex("EURUSD"), "", "60 S", "5 secs", "MIDPOINT", True, keepUpToDate=True), 5)
            assert [b.date.second for b in bars] == [0, 5, 10] and bars[-1].barCount == 2  # 10 s bar: partial
            completed = next_event(bars.updateEvent)
            for s in (13, 14, 15):
                sim.push_tick(Tick("EURUSD", T0 + timedelta(seconds=s), 1.2, 1.2002))
            _, has_new = await asyncio.wait_for(completed, 5)  # the 15 s tick closed the 10 s window
            assert not has_new and [b.date.second for b in bars] == [0, 5, 10]
            assert (bars[-1].barCount, bars[-1].close) == (4, pytest.approx(1.2001))  # 10, 11, 13, 14 s
            new_bar = next_event(bars.updateEvent)
            sim.push_tick(Tick("EURUSD", T0 + timedelta(seconds=20), 1.3, 1.3002))
            _, has_new = await asyncio.wait_for(new_bar, 5)
            assert has_new and [b.date.second for b in bars] == [0, 5, 10, 15]
            assert (bars[-1].barCount, bars[-1].close) == (1, pytest.approx(1.2001))
            client.cancelHistoricalData(bars)
        finally:
            client.disconnect()


async def test_account_summary_portfolio_and_values(sim: TwsSimulator, ib: IB) -> None:
    sim.push_tick(Tick("EURUSD", T0, 1.1220, 1.1222))
    sim.push_tick(Tick("AAPL", T0, 190.0, 190.2))
    summary = {v.tag: v for v in await asyncio.wait_for(ib.accountSummaryAsync(), 5)}
    assert summary["NetLiquidation"].account == DEFAULT_ACCOUNT and summary["NetLiquidation"].currency == "USD"
    net = 1_000_000 + 100_000 * 1.1221 + 50 * 190.1
    assert float(summary["NetLiquidation"].value) == pytest.approx(net)
    assert {"TotalCashValue", "BuyingPower", "InitMarginReq", "MaintMarginReq", "AvailableFunds"} <= set(summary)
    await asyncio.wait_for(ib.reqAccountUpdatesAsync(DEFAULT_ACCOUNT), 5)
    items = {p.contract.symbol: p for p in ib.portfolio()}
    eur = items["EUR"]
    assert (eur.position, eur.marketPrice, eur.averageCost) == (100_000, pytest.approx(1.1221), 1.1205)
    assert eur.marketValue == pytest.approx(112_210.0) and eur.unrealizedPNL == pytest.approx(160.0)
    assert items["AAPL"].unrealizedPNL == pytest.approx(50 * (190.1 - 185.25))
    moved = next_event(ib.updatePortfolioEvent, lambda item: item.contract.symbol == "AAPL" and item.position == 40)
    reported = next_event(ib.commissionReportEvent)
    ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("SELL", 10))
    item = await asyncio.wait_for(moved, 5)
    assert item.realizedPNL == pytest.approx(10 * (190.0 - 185.25) - 1.0)
    _, _, report = await asyncio.wait_for(reported, 5)
    assert report.realizedPNL == pytest.approx(10 * (190.0 - 185.25) - 1.0)
    values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
    assert float(values[("TotalCashValue", "USD")]) == pytest.approx(1_000_000 + 1900.0 - 1.0)


async def test_what_if_order_returns_margin_and_commission(sim: TwsSimulator, ib: IB) -> None:
    sim.push_tick(Tick("AAPL", T0, 190.0, 190.2))
    state = await asyncio.wait_for(ib.whatIfOrderAsync(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 100)), 5)
    assert float(state.commission) == 1.0 and state.commissionCurrency == "USD"
    assert float(state.initMarginChange) == pytest.approx(100 * 190.1 * 0.5)
    assert float(state.initMarginAfter) == pytest.approx(float(state.initMarginBefore) + 100 * 190.1 * 0.5)
    assert float(state.maintMarginChange) == pytest.approx(100 * 190.1 * 0.25)
    assert sim.executions == () and sim.positions[(DEFAULT_ACCOUNT, "AAPL")] == (50.0, 185.25)
    assert ib.trades() == []


async def test_resting_limit_order_fills_when_the_market_comes_to_it(sim: TwsSimulator, ib: IB) -> None:
    sim.push_tick(Tick("EURUSD", T0, 1.1220, 1.1222))
    submitted = next_event(ib.orderStatusEvent, lambda t: t.orderStatus.status == "Submitted")
    trade = ib.placeOrder(Forex("EURUSD"), LimitOrder("BUY", 10_000, 1.1200))
    await asyncio.wait_for(submitted, 5)
    reported = next_event(ib.commissionReportEvent)
    sim.push_tick(Tick("EURUSD", T0 + timedelta(seconds=1), 1.1197, 1.1199))
    _, fill, _ = await asyncio.wait_for(reported, 5)
    assert trade.orderStatus.status == "Filled" and fill.execution.price == 1.1199


async def test_global_cancel(sim: TwsSimulator, ib: IB) -> None:
    sim.push_tick(Tick("EURUSD", T0, 1.1220, 1.1222))
    trades = [ib.placeOrder(Forex("EURUSD"), LimitOrder("BUY", 10_000, 1.0 + i / 100)) for i in range(2)]
    await sim.wait_for(lambda: len(sim.broker.resting) == 2)
    done = next_event(ib.orderStatusEvent, lambda t: all(x.orderStatus.status == "Cancelled" for x in trades))
    ib.reqGlobalCancel()
    await asyncio.wait_for(done, 5)


async def test_contract_details_with_con_ids(ib: IB) -> None:
    (details,) = await asyncio.wait_for(ib.reqContractDetailsAsync(Forex("EURUSD")), 5)
    assert (details.contract.conId, details.contract.localSymbol, details.minTick) == (12087792, "EUR.USD", 5e-05)
    (by_id,) = await asyncio.wait_for(ib.reqContractDetailsAsync(Contract(conId=265598)), 5)
    assert (by_id.contract.symbol, by_id.contract.secType, by_id.longName) == ("AAPL", "STK", "AAPL")


async def test_unsupported_requests_get_an_error_at_once(ib: IB) -> None:
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, *_: errors.append(code)
    fx = Forex("EURUSD", conId=12087792)
    requests = [
        ib.reqFundamentalDataAsync(fx, "ReportSnapshot"), ib.reqHistoricalTicksAsync(fx, T0, "", 10, "MIDPOINT", True),
        ib.reqHeadTimeStampAsync(fx, "MIDPOINT", True, 1), ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598),
        ib.reqHistogramDataAsync(fx, True, "1 day"), ib.reqMatchingSymbolsAsync("EUR"),
        # these wait on a name, not a request id: answered with an empty list
        ib.reqNewsProvidersAsync(), ib.reqMktDepthExchangesAsync(), ib.reqScannerParametersAsync(),
    ]
    for request in requests:  # each under ib_insync's own timeout for it (4 s or none): no waiting
        assert not await asyncio.wait_for(request, 3)
    assert errors.count(503) == 6


def test_every_request_record_has_a_handler() -> None:
    handlers = Handlers(
        account="DU1", broker=None, contracts=None, history=None, held_client_ids=set(),  # type: ignore[arg-type]
        on_market_data=lambda: None,
    )
    assert handlers.handled == frozenset(REQUEST_TYPES)
