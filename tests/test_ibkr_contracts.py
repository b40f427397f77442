"""Pure IBKR parsing: symbols, config, contracts and ib_insync objects → rxstream events."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from rxstream.errors import ConfigError, ValidationError
from rxstream.events import Fill, PositionUpdate, Tick
from rxstream.ibkr import IBKRConfig, parse_address, parse_symbol, parse_symbols
from rxstream.ibkr.api import CommissionReport, Contract, Execution, Forex, Position, Stock, Ticker
from rxstream.ibkr.api import Fill as IBFill
from rxstream.ibkr.contracts import (
    commission_of,
    contracts_for,
    fill_from,
    position_from,
    side_of,
    symbol_of,
    tick_from_ticker,
    to_contract,
)
from rxstream.ibkr.symbols import symbol_for
from rxstream.operators import Backoff

NOW = datetime(2020, 1, 1, 22, 0, 5, tzinfo=UTC)
NAN = math.nan


@pytest.mark.parametrize(
    ("text", "symbol", "sec_type", "ib_symbol", "currency", "exchange", "local"),
    [
        ("EURUSD", "EURUSD", "CASH", "EUR", "USD", "IDEALPRO", "EUR.USD"),
        ("eur.usd", "EURUSD", "CASH", "EUR", "USD", "IDEALPRO", "EUR.USD"),
        ("GBP/JPY", "GBPJPY", "CASH", "GBP", "JPY", "IDEALPRO", "GBP.JPY"),
        ("AAPL", "AAPL", "STK", "AAPL", "USD", "SMART", "AAPL"),
        (" msft ", "MSFT", "STK", "MSFT", "USD", "SMART", "MSFT"),
        ("BRK.B", "BRK.B", "STK", "BRK.B", "USD", "SMART", "BRK.B"),
        ("ABCDEF", "ABCDEF", "STK", "ABCDEF", "USD", "SMART", "ABCDEF"),  # six letters, not currencies
    ],
)
def test_parse_symbol(text: str, symbol: str, sec_type: str, ib_symbol: str, currency: str, exchange: str,
                      local: str) -> None:
    spec = parse_symbol(text)
    assert (spec.symbol, spec.sec_type, spec.ib_symbol, spec.currency, spec.exchange, spec.local_symbol) == (
        symbol, sec_type, ib_symbol, currency, exchange, local,
    )
    assert symbol_for(spec.sec_type, spec.ib_symbol, spec.currency) == spec.symbol


@pytest.mark.parametrize("bad", ["", "1ABC", "EUR USD", "AAPL!", "TOOLONGSYMBOLNAME"])
def test_parse_symbol_names_the_bad_one(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_symbol(bad)
    assert info.value.setting == "symbols" and repr(bad) in str(info.value)


def test_parse_symbols_accepts_lists_and_commas_and_drops_duplicates() -> None:
    assert [s.symbol for s in parse_symbols("EURUSD, aapl,EUR.USD")] == ["EURUSD", "AAPL"]
    assert [s.symbol for s in parse_symbols(["EURUSD,GBPUSD", "AAPL"])] == ["EURUSD", "GBPUSD", "AAPL"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:7497", ("127.0.0.1", 7497)), ("gw:4002", ("gw", 4002)), ("[::1]:7496", ("::1", 7496))],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("bad", ["7497", "host:", ":7497", "host:port", "host:70000"])
def test_parse_address_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address(bad)


def test_config_normalises_and_validates() -> None:
    cfg = IBKRConfig(host="gw", port=4002, symbols=["eurusd", "AAPL"], client_id=5, client_id_range=3)
    assert cfg.symbols == ("EURUSD", "AAPL") and cfg.address == "gw:4002" and cfg.client_ids == (5, 6, 7)
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", 0), ("client_id", -1), ("client_id_range", 0), ("backoff_initial", 0), ("backoff_factor", 0.5),
     ("backoff_jitter", 1.0), ("connect_timeout", 0), ("heartbeat_interval", -1), ("dedupe_capacity", 0),
     ("host", ""), ("symbols", ["EUR USD"])],
)
def test_config_names_the_bad_setting(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        IBKRConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.setting == field


def test_backoff_is_the_operators_backoff_exponential_capped_and_jittered() -> None:
    exact = IBKRConfig(backoff_initial=0.5, backoff_factor=2, backoff_max=5, backoff_jitter=0).backoff()
    assert isinstance(exact, Backoff)
    assert [exact.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert exact.delay(10_000) == 5.0
    jittered = IBKRConfig(backoff_initial=0.5, backoff_factor=2, backoff_max=5, backoff_jitter=0.2)
    backoff = jittered.backoff(rng=random.Random(7))
    delays = [backoff.delay(4) for _ in range(200)]
    assert all(3.2 <= d <= 4.8 for d in delays) and len(set(delays)) > 100


def test_backoff_max_below_initial_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        IBKRConfig(backoff_initial=2, backoff_max=1)
    assert info.value.setting == "backoff_max"


# --- contracts ----------------------------------------------------------------------------


def test_to_contract() -> None:
    fx = to_contract("EURUSD")
    assert isinstance(fx, Forex)
    assert (fx.symbol, fx.currency, fx.exchange, fx.secType) == ("EUR", "USD", "IDEALPRO", "CASH")
    stock = to_contract(parse_symbol("AAPL"))
    assert isinstance(stock, Stock) and (stock.symbol, stock.exchange, stock.currency) == ("AAPL", "SMART", "USD")
    assert list(contracts_for("EURUSD,AAPL")) == ["EURUSD", "AAPL"]


@pytest.mark.parametrize(
    ("contract", "symbol"),
    [(Forex("EURUSD"), "EURUSD"), (Stock("AAPL", "SMART", "USD"), "AAPL"),
     (Contract(secType="CASH", symbol="GBP", currency="JPY"), "GBPJPY"), (Contract(secType="FUT", symbol="ES"), "ES")],
)
def test_symbol_of(contract: Contract, symbol: str) -> None:
    assert symbol_of(contract) == symbol


@pytest.mark.parametrize(("side", "expected"), [("BOT", "BUY"), ("SLD", "SELL"), ("BUY", "BUY"), ("SELL", "SELL")])
def test_side_of(side: str, expected: str) -> None:
    assert side_of(side) == expected


def test_side_of_refuses_unknown() -> None:
    with pytest.raises(ValidationError, match=r"fill\.side"):
        side_of("SSHORT")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(bid=1.1212, ask=1.1214, bidSize=1e6, askSize=2e6), (1.1212, 1.1214, None, 1e6, 2e6, None, None)),
        (dict(), (None, None, None, None, None, None, None)),
        (dict(bid=-1.0, ask=-1.0, bidSize=0.0), (None, None, None, 0.0, None, None, None)),
        (dict(last=190.5, lastSize=100.0, volume=12345.0), (None, None, 190.5, None, None, 100.0, 12345.0)),
    ],
)
def test_tick_from_ticker(fields: dict[str, float], expected: tuple[float | None, ...]) -> None:
    ticker = Ticker(contract=Forex("EURUSD"), time=NOW)
    for name, value in fields.items():  # ib_async's Ticker resets prices given to its constructor
        setattr(ticker, name, value)
    tick = tick_from_ticker("EURUSD", ticker)
    assert tick == Tick("EURUSD", NOW, *expected)
    ticker.bid = 9.9  # the ticker changes in place; the tick does not
    assert tick.bid == expected[0]


def test_position_from() -> None:
    p = Position("DU1", Forex("EURUSD"), 100_000.0, 1.1205)
    assert position_from(p, NOW) == PositionUpdate("DU1", "EURUSD", 100_000.0, 1.1205, NOW)


def _fill(commission: CommissionReport | None = None, side: str = "BOT") -> IBFill:
    execution = Execution(execId="0001.01", time=NOW, acctNumber="DU1", side=side, shares=20_000.0, price=1.1214,
                          orderId=12)
    return IBFill(Forex("EURUSD"), execution, commission or CommissionReport(), NOW)


@pytest.mark.parametrize(
    ("report", "side", "commission", "expected_side"),
    [
        (CommissionReport("0001.01", 2.0, "USD"), "BOT", 2.0, "BUY"),
        (CommissionReport("0001.01", 0.0, "USD"), "SLD", 0.0, "SELL"),
        (None, "BOT", None, "BUY"),
    ],
)
def test_fill_from(report: CommissionReport | None, side: str, commission: float | None, expected_side: str) -> None:
    assert fill_from(_fill(report, side)) == Fill(
        "0001.01", 12, "DU1", "EURUSD", expected_side, 20_000.0, 1.1214, commission, NOW  # type: ignore[arg-type]
    )


def test_fill_from_with_explicit_commission_and_naive_time() -> None:
    fill = _fill()
    fill.execution.time = datetime(2020, 1, 1, 22, 0, 5)
    assert fill_from(fill, 3.5).commission == 3.5
    assert fill_from(fill).time == NOW


def test_commission_of() -> None:
    assert commission_of(CommissionReport()) is None
    assert commission_of(CommissionReport("x", NAN)) is None
    assert commission_of(CommissionReport("x", 1.25)) == 1.25
