"""Time bars: open, high, low, close and tick count per key, over windows aligned to the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..errors import ConfigError
from ..events import Bar
from ._scheduling import require_scheduler

__all__ = ["ohlc"]

_T = TypeVar("_T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_symbol = attrgetter("symbol")
_mid = attrgetter("mid")


class _Building:
    """The bar of one key in the open window."""

    __slots__ = ("close", "high", "low", "open", "ticks")

    def __init__(self, price: float) -> None:
        self.open = self.high = self.low = self.close = price
        self.ticks = 1


def window_start(now: datetime, step: timedelta) -> datetime:
    """The start of the ``step``-long window holding ``now``, counted from the Unix epoch."""
    return _EPOCH + (now - _EPOCH) // step * step


def ohlc(
    interval: float | timedelta,
    *,
    key: Callable[[_T], str] = _symbol,
    price: Callable[[_T], float | None] = _mid,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[_T]], Observable[Bar]]:
    """Aggregate values into OHLC bars per key, over ``interval``-long windows aligned to the clock.

    A 60 s bar covers ``[12:00:00, 12:01:00)`` on the scheduler's clock (the
    event times in a replay, the wall clock live). Every key with values in a
    window gets one :class:`~rxstream.events.Bar` when the window closes, in
    the order the keys first appeared in it; a window without values gives no
    bar. A value whose price is ``None`` (a one-sided quote) is skipped. When
    the source completes or fails, the bars of the open window are emitted
    first (partial bars: their ``end`` is still the window's end).

    .. code-block:: text

        time   0          60          120     150
               |-1--3--2--|-5---------|-4------|      prices of key "a" (interval = 60)
               [            ohlc(60)            ]
               -----------A-----------B--------C|
        A = Bar("a", start=0, end=60, open=1, high=3, low=1, close=2, ticks=3)
        B = Bar("a", 60, 120, 5, 5, 5, 5, ticks=1)
        C = Bar("a", 120, 180, 4, 4, 4, 4, ticks=1)   the partial bar, on completion

    Example:
        >>> ticks.pipe(rxo.ohlc(60, scheduler=ctx.scheduler))  # one-minute bars of mid prices per symbol

    Args:
        interval: Bar length, in seconds or as a timedelta; windows start at multiples of it since the epoch.
        key: The bar's symbol for a value (default: its ``symbol``).
        price: The price of a value, or ``None`` to skip it (default: its ``mid``).
        scheduler: Clock for the windows; defaults to the scheduler given to ``subscribe``.

    Returns:
        A pipeable operator emitting :class:`~rxstream.events.Bar` records.
    """
    step = interval if isinstance(interval, timedelta) else timedelta(seconds=interval)
    if step <= timedelta(0):
        raise ConfigError("ohlc.interval", f"must be positive, got {interval!r}")

    def _ohlc(source: Observable[_T]) -> Observable[Bar]:
        def subscribe(
            observer: abc.ObserverBase[Bar], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = require_scheduler("ohlc", scheduler, scheduler_)
            bars: dict[str, _Building] = {}  # key -> its bar in the open window (first-seen order)
            start: datetime | None = None  # the open window's start; None when no bar is open
            end: datetime | None = None  # and its end
            timer: abc.DisposableBase | None = None

            def close_window() -> None:
                nonlocal start, end, timer
                if timer is not None:
                    timer.dispose()
                    timer = None
                if start is None or end is None:
                    return
                began, ended = start, end
                closing = list(bars.items())
                bars.clear()
                start = end = None
                for symbol, bar in closing:
                    observer.on_next(Bar(symbol, began, ended, bar.open, bar.high, bar.low, bar.close, bar.ticks))

            def on_timer(_: abc.SchedulerBase, __: Any) -> None:
                close_window()

            def next_(value: _T) -> None:
                nonlocal start, end, timer
                p = price(value)
                if p is None:
                    return
                now = clock.now
                if end is None or now >= end:
                    if end is not None:  # the timer is late (live loop): close first
                        close_window()
                    start = window_start(now, step)
                    end = start + step
                    timer = clock.schedule_absolute(end, on_timer)
                k = key(value)
                bar = bars.get(k)
                if bar is None:
                    bars[k] = _Building(p)
                else:  # _Building.add, inlined: this runs for every tick
                    if p > bar.high:
                        bar.high = p
                    elif p < bar.low:
                        bar.low = p
                    bar.close = p
                    bar.ticks += 1

            def error(exc: Exception) -> None:
                close_window()
                observer.on_error(exc)

            def completed() -> None:
                close_window()
                observer.on_completed()

            def cancel() -> None:
                nonlocal timer
                if timer is not None:
                    timer.dispose()
                    timer = None

            subscription = source.subscribe(next_, error, completed, scheduler=scheduler_)
            return CompositeDisposable(subscription, Disposable(cancel))

        return Observable(subscribe)

    return _ohlc
