"""Pure functions between ib_insync objects and rxstream: contracts out, events in.

Everything here is a function of its arguments (no connection, no clock), so
it is table-tested without TWS. ib_insync objects are mutable and reused
(a ``Ticker`` changes in place on every packet); these functions copy what
they need into immutable rxstream events at the boundary.

>>> to_contract(parse_symbol("EURUSD"))
Forex('EURUSD', exchange='IDEALPRO')
>>> to_contract(parse_symbol("AAPL"))
Stock(symbol='AAPL', exchange='SMART', currency='USD')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from ..errors import ValidationError
from ..events import Fill, PositionUpdate, Side, Tick
from .api import CommissionReport, Contract, Forex, Position, Stock, Ticker
from .api import Fill as IBFill
from .symbols import ContractSpec, parse_symbol, parse_symbols, symbol_for

__all__ = [
    "SIDES",
    "commission_of",
    "contracts_for",
    "fill_from",
    "position_from",
    "side_of",
    "symbol_of",
    "tick_from_ticker",
    "to_contract",
]

SIDES: dict[str, Side] = {"BOT": "BUY", "SLD": "SELL", "BUY": "BUY", "SELL": "SELL"}
"""Execution sides as TWS spells them (``BOT``/``SLD``) → rxstream's ``BUY``/``SELL``."""


def to_contract(spec: ContractSpec | str) -> Contract:
    """The ib_insync contract for a symbol: a forex pair on IDEALPRO or a SMART-routed stock."""
    if isinstance(spec, str):
        spec = parse_symbol(spec)
    if spec.is_forex:
        return Forex(spec.symbol, exchange=spec.exchange)
    return Stock(spec.ib_symbol, spec.exchange, spec.currency)


def contracts_for(symbols: Iterable[str] | str) -> dict[str, Contract]:
    """rxstream symbol → a fresh ib_insync contract, for a symbol list (``"EURUSD,AAPL"`` works)."""
    return {spec.symbol: to_contract(spec) for spec in parse_symbols(symbols)}


def symbol_of(contract: Contract) -> str:
    """The rxstream symbol of an ib_insync contract (``EUR``/``CASH``/``USD`` → ``EURUSD``)."""
    return symbol_for(contract.secType, contract.symbol, contract.currency)


def side_of(side: str) -> Side:
    """``BOT`` → ``BUY``, ``SLD`` → ``SELL``; anything else is a :class:`~rxstream.errors.ValidationError`."""
    try:
        return SIDES[side]
    except KeyError:
        raise ValidationError("side", f"expected BOT or SLD, got {side!r}", event="fill") from None


def _price(value: float) -> float | None:
    # ib_insync leaves NaN where nothing arrived; TWS sends -1 for "no quote"
    return None if value != value or value == -1.0 else value


def _size(value: float) -> float | None:
    return None if value != value else value


def tick_from_ticker(symbol: str, ticker: Ticker) -> Tick:
    """An immutable copy of a ticker's current top of book, stamped with the packet's arrival time."""
    time = ticker.time or datetime.now(UTC)
    return Tick(
        symbol,
        time,
        _price(ticker.bid),
        _price(ticker.ask),
        _price(ticker.last),
        _size(ticker.bidSize),
        _size(ticker.askSize),
        _size(ticker.lastSize),
        _size(ticker.volume),
    )


def position_from(position: Position, time: datetime) -> PositionUpdate:
    """A ``positionEvent`` payload as a :class:`~rxstream.events.PositionUpdate` at ``time``."""
    return PositionUpdate(
        position.account, symbol_of(position.contract), float(position.position), float(position.avgCost), time
    )


def commission_of(report: CommissionReport) -> float | None:
    """The commission of a report, or ``None`` while no report has arrived (an empty ``execId``)."""
    if not report.execId or math.isnan(report.commission):
        return None
    return report.commission


def fill_from(fill: IBFill, commission: float | None = None) -> Fill:
    """An ib_insync fill as an rxstream :class:`~rxstream.events.Fill`, timed by the execution.

    ``commission`` defaults to whatever the fill's commission report holds.
    """
    e = fill.execution
    if commission is None:
        commission = commission_of(fill.commissionReport)
    time = e.time if e.time.tzinfo is not None else e.time.replace(tzinfo=UTC)
    return Fill(
        e.execId, int(e.orderId), e.acctNumber, symbol_of(fill.contract), side_of(e.side), float(e.shares),
        float(e.price), commission, time,
    )
