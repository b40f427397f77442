"""The signal trader places orders on the simulator through the IBKR feed; their fills come back."""

from __future__ import annotations

from datetime import UTC, datetime

from reactivex.scheduler import HistoricalScheduler

from rxstream.autotrade import SignalTrader
from rxstream.engine import Engine
from rxstream.errors import SourceConnectionError
from rxstream.events import Fill, Signal, Tick
from rxstream.ibkr.config import IBKRConfig
from rxstream.ibkr.source import IBKRFeed
from rxstream.testing.server import TwsSimulator

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def signal(action: str, confidence: float = 0.9) -> Signal:
    return Signal("t", "EURUSD", action, confidence, NOW)  # type: ignore[arg-type]


async def test_signals_become_orders_whose_fills_come_back_as_trades() -> None:
    async with TwsSimulator(speed=None) as sim:
        sim.push_tick(Tick("EURUSD", datetime.now(UTC), 1.1, 1.1002))
        feed = IBKRFeed(IBKRConfig(port=sim.port, symbols=("EURUSD",), client_id=41))
        trader = SignalTrader(feed.place_market_order, quantity=10_000)
        async with Engine(feeds=[feed, trader]) as engine:
            fills: list[Fill] = []
            engine.outputs["trade_executions"].subscribe(fills.append)
            await feed.wait_for(lambda: feed.ib.isConnected(), timeout=10)
            trader.on_signal(signal("BUY"))
            trader.on_signal(signal("BUY"))  # already long: no order
            trader.on_signal(signal("HOLD"))
            trader.on_signal(signal("SELL"))  # reverse: one order of twice the size
            await feed.wait_for(lambda: len(fills) == 2, timeout=10)
    assert [(f.side, f.quantity) for f in fills] == [("BUY", 10_000), ("SELL", 20_000)]
    assert all(f.commission is not None for f in fills)
    assert [o[:3] for o in trader.orders] == [("EURUSD", "BUY", 10_000), ("EURUSD", "SELL", 20_000)]


async def test_an_order_that_cannot_be_placed_is_an_error_of_the_trader_not_a_crash() -> None:
    def broker_down(symbol: str, side: str, quantity: float) -> int:
        raise SourceConnectionError("127.0.0.1", 7497, "not connected: order not sent")

    trader = SignalTrader(broker_down, min_confidence=0.5)
    async with Engine(scheduler=HistoricalScheduler(NOW), feeds=[trader]) as engine:
        trader.on_signal(signal("BUY", confidence=0.2))  # too weak: ignored
        trader.on_signal(signal("BUY"))
        assert engine.health is not None
        assert trader.failures == 1 and trader.orders == []
        assert "not connected" in (engine.health.get("autotrade").last_error or "")
        trader.on_signal(signal("BUY"))  # not marked as ordered: tried again
        assert trader.failures == 2


async def test_a_trader_without_its_pipeline_is_reported_down() -> None:
    trader = SignalTrader(lambda *_: 1)
    async with Engine(pipelines=[], scheduler=HistoricalScheduler(NOW), feeds=[trader]) as engine:
        assert engine.health is not None
        assert not engine.health.is_healthy("autotrade")
        assert "no pipeline 'signals' to trade" in (engine.health.get("autotrade").last_error or "")
