"""The simulator's broker, pure: orders, matching, positions, average cost, cash, margin, what-if."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rxstream.events import Tick
from rxstream.ibkr.symbols import parse_symbol
from rxstream.testing.broker import Broker, Order, default_commission

EURUSD = parse_symbol("EURUSD")
AAPL = parse_symbol("AAPL")
T = datetime(2020, 1, 1, 22, tzinfo=UTC)
FIXED = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def broker(*positions: tuple[str, object, float, float], cash: float = 10_000.0) -> Broker:
    return Broker("DU1", positions, cash=cash, clock=lambda: FIXED)  # type: ignore[arg-type]


def order(action: str, quantity: float, *, kind: str = "MKT", limit: float | None = None, contract: object = AAPL,
          order_id: int = 1, client_id: int = 1) -> Order:
    return Order(order_id, client_id, 100 + order_id, "DU1", contract, action, quantity, kind, limit)  # type: ignore[arg-type]


def quote(bid: float, ask: float, symbol: str = "AAPL") -> Tick:
    return Tick(symbol, T, bid, ask)


def test_market_buy_fills_at_the_ask_with_commission_and_moves_cash() -> None:
    b = broker()
    b.quote(quote(100.0, 100.5))
    done = b.submit(order("BUY", 10))
    assert done.execution is not None and not done.resting
    e = done.execution
    assert (e.side, e.shares, e.price, e.commission, e.time) == ("BOT", 10, 100.5, 1.0, FIXED)
    assert (e.order_id, e.client_id, e.perm_id, e.account) == (1, 1, 101, "DU1")
    assert b.holding("DU1", "AAPL").quantity == 10  # type: ignore[union-attr]
    assert b.cash == 10_000.0 - 1005.0 - 1.0
    assert b.executions == (e,)


def test_market_sell_fills_at_the_bid() -> None:
    b = broker(("DU1", AAPL, 10, 90.0))
    b.quote(quote(100.0, 100.5))
    e = b.submit(order("SELL", 4)).execution
    assert e is not None and (e.side, e.price) == ("SLD", 100.0)


def test_price_without_a_quote_is_the_default_and_one_sided_quotes_fall_back() -> None:
    b = broker()
    assert (b.price(AAPL, "BUY"), b.price(EURUSD, "SELL")) == (100.0, 1.0)
    b.quote(Tick("AAPL", T, 99.0, None))
    assert b.price(AAPL, "BUY") == 99.0  # no ask: the bid (the mid needs both sides)


def test_average_cost_adds_in_and_realizes_on_reduce() -> None:
    b = broker()
    b.quote(quote(99.9, 100.0))
    b.submit(order("BUY", 10))
    b.quote(quote(109.9, 110.0))
    b.submit(order("BUY", 10, order_id=2))
    h = b.holding("DU1", "AAPL")
    assert h is not None and (h.quantity, h.avg_cost) == (20, 105.0)
    b.quote(quote(120.0, 120.1))
    e = b.submit(order("SELL", 5, order_id=3)).execution
    assert e is not None and e.realized_pnl == 75.0 - e.commission  # 5 × 15, net of the commission
    assert (h.quantity, h.avg_cost, h.realized) == (15, 105.0, e.realized_pnl)  # the average is kept


def test_crossing_through_zero_starts_over_at_the_fill_price() -> None:
    b = broker(("DU1", AAPL, 10, 100.0))
    b.quote(quote(90.0, 90.1))
    b.submit(order("SELL", 15))
    h = b.holding("DU1", "AAPL")
    assert h is not None and (h.quantity, h.avg_cost, h.realized) == (-5, 90.0, -100.0 - 1.0)
    b.quote(quote(80.0, 80.0))
    b.submit(order("BUY", 5, order_id=2))
    assert (h.quantity, h.avg_cost, h.realized) == (0, 0.0, -101.0 + 50.0 - 1.0)


def test_limit_order_rests_then_fills_when_a_quote_makes_it_marketable() -> None:
    b = broker()
    b.quote(quote(100.0, 100.5))
    working = order("BUY", 10, kind="LMT", limit=99.0)
    assert b.submit(working).resting and b.resting == (working,)
    assert b.quote(quote(99.5, 99.6)) == []  # ask still above the limit
    ((filled, e),) = b.quote(quote(98.8, 98.9))
    assert filled == working and e.price == 98.9 and b.resting == ()


def test_marketable_limit_fills_at_once_and_cancel_stops_a_working_one() -> None:
    b = broker()
    b.quote(quote(100.0, 100.5))
    assert b.submit(order("SELL", 1, kind="LMT", limit=99.0)).execution is not None
    working = order("SELL", 1, kind="LMT", limit=150.0, order_id=2, client_id=7)
    b.submit(working)
    assert b.cancel(1, 2) is None  # another client's order id
    assert b.cancel(7, 2) == working and b.resting == ()
    b.submit(working)
    assert b.cancel_all() == [working] and b.resting == ()


@pytest.mark.parametrize(
    ("bad", "code"),
    [(order("HOLD", 1), 201), (order("BUY", 0), 201), (order("BUY", 1, kind="STP"), 387),
     (order("BUY", 1, kind="LMT"), 387)],
)
def test_rejections(bad: Order, code: int) -> None:
    done = broker().submit(bad)
    assert done.rejected is not None and done.rejected[0] == code and not done.resting
    assert done.execution is None


def test_portfolio_account_values_and_margin() -> None:
    b = broker(("DU1", AAPL, 10, 90.0), ("DU1", EURUSD, 100_000, 1.10), ("DU2", AAPL, 1, 1.0))
    b.quote(quote(99.0, 101.0))
    b.quote(quote(1.1199, 1.1201, "EURUSD"))
    items = {i.contract.symbol: i for i in b.portfolio("DU1")}
    assert set(items) == {"AAPL", "EURUSD"}
    a = items["AAPL"]
    assert (a.position, a.market_price, a.market_value) == (10, 100.0, 1000.0)
    assert (a.avg_cost, a.unrealized_pnl) == (90.0, 100.0)
    assert items["EURUSD"].market_value == 112_000.0 and items["EURUSD"].unrealized_pnl == 2000.0
    margin = b.margin("DU1")
    assert margin.init == pytest.approx(1000 * 0.5 + 112_000 * 0.03)
    assert margin.maint == pytest.approx(1000 * 0.25 + 112_000 * 0.025)
    values = {tag: value for tag, value, _ in b.account_values("DU1")}
    assert values["NetLiquidation"] == 10_000 + 1000 + 112_000
    assert values["TotalCashValue"] == 10_000 and values["UnrealizedPnL"] == 2100.0
    assert values["AvailableFunds"] == pytest.approx(123_000 - margin.init)


def test_what_if_reports_margin_and_commission_without_trading() -> None:
    b = broker(("DU1", AAPL, 10, 90.0))
    b.quote(quote(99.0, 101.0))
    before, after, commission = b.what_if(order("BUY", 1000))
    assert commission == default_commission(AAPL, 1000, 101.0) == 5.0
    assert before.init == 500.0 and after.init == pytest.approx(1010 * 100 * 0.5)
    assert after.equity_with_loan == before.equity_with_loan - 5.0
    assert b.executions == () and b.holding("DU1", "AAPL").quantity == 10  # type: ignore[union-attr]


def test_manual_fill_at_a_given_price() -> None:
    b = broker()
    e = b.fill(order("SELL", 3, kind="LMT", limit=1e9), price=50.0)
    assert (e.price, e.side) == (50.0, "SLD") and b.holding("DU1", "AAPL").quantity == -3  # type: ignore[union-attr]


def test_exec_ids_are_unique_and_carry_the_prefix() -> None:
    b = Broker("DU1", exec_prefix="deadbeef")
    ids = [b.submit(order("BUY", 1, order_id=i)).execution.exec_id for i in range(3)]  # type: ignore[union-attr]
    assert len(set(ids)) == 3 and all(i.startswith("deadbeef.") for i in ids)


@pytest.mark.parametrize("module", ["broker", "history", "faults", "requests", "contracts", "messages", "codec"])
def test_the_simulator_modules_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"rxstream.testing.{module}"))
    assert result.failed == 0 and result.attempted > 0
