"""Paper trading over a recorded session, in virtual time, with the live demo's signal-to-order rule."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..autotrade import SignalOrders
from ..engine import Engine
from ..errors import ConfigError, StreamError, TickFileError
from ..events import Bar, Event, Fill, Signal, Tick
from ..operators import ohlc
from ..pipelines import load_pipelines, with_feeders
from ..replay import ReplayScheduler, replay_virtual
from ..tickfile import ReadStats, read_events
from .broker import Commission, PaperBroker, Position

__all__ = ["BacktestResult", "EquityPoint", "run_backtest"]

_MINUTE = timedelta(minutes=1)

EquityPoint = tuple[datetime, float]
"""(time, realised + unrealised P&L) at the end of a minute or right after a fill."""


@dataclass
class BacktestResult:
    """Everything a backtest run saw and did; :mod:`rxstream.backtest.report` writes it out."""

    source: str
    pipelines: list[str]
    quantity: float
    commission: Commission
    flatten: bool
    fills: list[Fill] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    marks: dict[str, float | None] = field(default_factory=dict)  # symbol -> closing price of what is open
    ticks: int = 0
    signals: int = 0
    orders: int = 0
    unfilled: int = 0
    max_drawdown: float = 0.0
    time_in_market: float = 0.0  # seconds with a position open
    start: datetime | None = None
    end: datetime | None = None
    skipped: int = 0


class _Tracker:
    """Per tick: the equity curve (one point per minute and per fill), drawdown and time in the market."""

    def __init__(self, broker: PaperBroker, result: BacktestResult) -> None:
        self.broker = broker
        self.result = result
        self.peak = 0.0
        self.last_time: datetime | None = None
        self.minute_end: datetime | None = None  # the end of the minute the curve's last point is in

    def on_tick(self, tick: Tick) -> None:
        """Give the broker the quote first, then account for the time that passed and the new marks."""
        self.broker.on_tick(tick)
        time = tick.time
        last = self.last_time
        in_market = self.broker.open_positions
        if in_market and last is not None and time > last:
            self.result.time_in_market += (time - last).total_seconds()
        self.last_time = time
        end = self.minute_end
        if end is None or time >= end:
            self.minute_end = time.replace(second=0, microsecond=0) + _MINUTE
            self.record(time)
        elif in_market:  # flat, the equity cannot have moved since the last fill
            self.record(time, replace=True)

    def record(self, time: datetime, *, replace: bool = False) -> None:
        """Update the drawdown; add a point to the curve (or replace the last one, within a minute)."""
        equity = self.broker.equity()
        if equity > self.peak:
            self.peak = equity
        elif self.peak - equity > self.result.max_drawdown:
            self.result.max_drawdown = self.peak - equity
        curve = self.result.equity
        if replace and curve:
            curve[-1] = (time, equity)
        else:
            curve.append((time, equity))


def run_backtest(
    path: str | Path,
    *,
    pipelines: Sequence[str] = ("signals",),
    quantity: float = 20_000,
    commission: Commission | None = None,
    min_confidence: float = 0.0,
    settings: Mapping[str, Any] | None = None,
    pipelines_dir: str | Path | None = None,
    flatten: bool = True,
    skip_bad: bool = False,
    progress: Callable[[Iterator[Event], ReadStats], Iterator[Event]] | None = None,
) -> BacktestResult:
    """Replay ``path`` in virtual time and paper-trade what the ``pipelines`` signal.

    Each BUY/SELL signal becomes the order :class:`~rxstream.autotrade.SignalOrders`
    asks for (the live demo's rule), filled by a :class:`~rxstream.backtest.broker.PaperBroker`
    at the quote of the moment. With ``flatten`` every open position is closed at
    the last quote, so the final P&L is the sum over the fills.

    Args:
        path: A tick file.
        pipelines: The pipelines whose output is traded (each must emit signals).
        quantity: The position held after a signal (as the demo's trader).
        commission: What each fill costs (default nothing).
        min_confidence: Ignore weaker signals.
        settings: Pipeline settings (``ma_fast`` ...).
        pipelines_dir: Where the pipelines are declared (default as ``rxstream replay``).
        flatten: Close open positions at the end.
        skip_bad: Skip bad lines of the tick file instead of stopping.
        progress: Wraps the events (e.g. a progress bar), given the read statistics.
    """
    if not pipelines:
        raise ConfigError("pipelines", "name at least one pipeline whose signals to trade, e.g. signals")
    available = {p.name: p for p in load_pipelines(pipelines_dir)}
    for name in pipelines:
        if name not in available:
            raise ConfigError("pipelines", f"unknown pipeline {name!r}; known: {', '.join(sorted(available))}")
    rule = SignalOrders(quantity, min_confidence=min_confidence)
    stats = ReadStats()
    events: Iterator[Event] = read_events(path, skip_bad=skip_bad, stats=stats)
    first = next(events, None)
    if first is None:
        raise TickFileError(str(path), stats.lines, "no events to replay")
    scheduler = ReplayScheduler(first.time)
    needed = {p.name: p for name in pipelines for p in with_feeders(available, name)}
    engine = Engine(pipelines=list(needed.values()), scheduler=scheduler,
                    settings=settings or {}, publish=False)
    result = BacktestResult(Path(path).name, list(pipelines), float(quantity), commission or Commission(), flatten)
    broker = PaperBroker(result.commission)
    tracker = _Tracker(broker, result)
    ticks = engine.sources["ticks"]
    ticks.subscribe(tracker.on_tick)  # subscribed before the pipelines: quotes are current when a signal comes
    ticks.pipe(ohlc(60, scheduler=scheduler)).subscribe(result.bars.append)
    failed: list[Exception] = []

    def trader_of(name: str) -> Callable[[Any], None]:
        return lambda value: on_signal(name, value)

    def on_signal(name: str, signal: Any) -> None:
        if not isinstance(signal, Signal):
            raise StreamError(name, f"emits {type(signal).__name__} values, not signals: it cannot be traded")
        result.signals += 1
        order = rule.order_for(signal)
        if order is None:
            return
        result.orders += 1
        fill = broker.market(*order, time=scheduler.now)
        if fill is None:
            result.unfilled += 1  # no two-sided quote yet: the rule tries again on the next signal
            return
        rule.placed(order)
        tracker.record(scheduler.now)
        tracker.minute_end = None  # the next tick opens a new point: a fill keeps its own

    engine.start()
    for name in pipelines:
        engine.outputs[name].subscribe(trader_of(name), failed.append)
    replayed: Iterator[Event] = itertools.takewhile(lambda _: not failed, itertools.chain([first], events))
    stats_ = replay_virtual(progress(replayed, stats) if progress else replayed, engine)
    engine.stop()
    if failed:
        raise failed[0]
    result.ticks, result.skipped = stats.events, stats.skipped
    result.start, result.end = stats_.first_time, stats_.last_time
    if flatten and result.end is not None:
        for _ in broker.flatten(result.end):
            tracker.record(result.end)
    result.fills, result.positions = broker.fills, broker.positions
    for symbol, position in broker.positions.items():
        quote = broker.quotes.get(symbol)
        result.marks[symbol] = position.mark(quote) if quote is not None and position.quantity else None
    if result.end is not None and (not result.equity or result.equity[-1][0] != result.end):
        result.equity.append((result.end, broker.equity()))
    return result

