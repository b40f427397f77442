"""Rolling windows per key, by count or by time, reduced to one number per value."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from reactivex import Observable, abc

from ..errors import ConfigError
from ._scheduling import require_scheduler

__all__ = ["Reducer", "RollingValue", "rolling"]

_T = TypeVar("_T")

Reducer = Literal["mean", "vwap", "min", "max", "sum"] | Callable[[Sequence[float]], float]
"""A named reducer, or a function of the window's values (oldest first)."""

_symbol = attrgetter("symbol")
_mid = attrgetter("mid")


class RollingValue(NamedTuple, Generic[_T]):
    """What ``rolling`` emits: the window's reduced ``value`` after ``item`` entered it; ``length`` values in it."""

    key: Hashable
    value: float
    length: int
    item: _T


class _Sums:
    """Running sums of ``w * v`` and ``w``, re-added exactly every ``len`` removals so no drift builds up."""

    __slots__ = ("removed", "weighted", "weights")

    def __init__(self) -> None:
        self.weighted = 0.0
        self.weights = 0.0
        self.removed = 0

    def add(self, v: float, w: float) -> None:
        self.weighted += v * w
        self.weights += w

    def remove(self, v: float, w: float, window: deque[tuple[Any, float, float]]) -> None:
        self.removed += 1
        if self.removed >= max(len(window), 64):
            self.removed = 0
            self.weighted = math.fsum(x * y for _, x, y in window)
            self.weights = math.fsum(y for _, _, y in window)
        else:
            self.weighted -= v * w
            self.weights -= w


class _Extreme:
    """A monotonic deque: the window's min (or max) in amortised O(1) per value."""

    __slots__ = ("better", "candidates")

    def __init__(self, better: Callable[[float, float], bool]) -> None:
        self.candidates: deque[tuple[int, float]] = deque()  # (arrival number, value)
        self.better = better

    def add(self, n: int, v: float) -> None:
        candidates = self.candidates
        while candidates and not self.better(candidates[-1][1], v):
            candidates.pop()
        candidates.append((n, v))

    def expire(self, oldest: int) -> None:
        candidates = self.candidates
        while candidates and candidates[0][0] < oldest:
            candidates.popleft()


class _Window:
    """One key's window: ``(stamp, value, weight)`` entries plus what the reducer needs."""

    __slots__ = ("added", "entries", "extreme", "sums")

    def __init__(self, reducer: Reducer) -> None:
        self.entries: deque[tuple[Any, float, float]] = deque()
        self.sums = _Sums() if reducer in ("mean", "vwap", "sum") else None
        self.extreme = (
            _Extreme(lambda kept, new: kept < new) if reducer == "min"
            else _Extreme(lambda kept, new: kept > new) if reducer == "max"
            else None
        )
        self.added = 0  # arrival number of the next entry

    def add(self, stamp: Any, v: float, w: float) -> None:
        self.entries.append((stamp, v, w))
        if self.sums is not None:
            self.sums.add(v, w)
        if self.extreme is not None:
            self.extreme.add(self.added, v)
        self.added += 1

    def pop_oldest(self) -> None:
        _, v, w = self.entries.popleft()
        if self.sums is not None:
            self.sums.remove(v, w, self.entries)
        if self.extreme is not None:
            self.extreme.expire(self.added - len(self.entries))


def rolling(
    size: int | None = None,
    *,
    seconds: float | timedelta | None = None,
    reducer: Reducer = "mean",
    key: Callable[[_T], Hashable] | None = _symbol,
    value: Callable[[_T], float | None] = _mid,
    weight: Callable[[_T], float | None] | None = None,
    min_count: int | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[_T]], Observable[RollingValue[_T]]]:
    """Per key, a window of the last ``size`` values or of the last ``seconds``, reduced after each value.

    Every value (whose ``value(...)`` is not ``None``) enters its key's window;
    the oldest values leave it (beyond ``size``, or older than ``seconds`` on
    the scheduler's clock: a time window holds the values of ``(now - seconds,
    now]``); then one :class:`RollingValue` ``(key, value, length, item)`` is
    emitted, once the window holds at least ``min_count`` values (default: a
    full ``size`` for a count window, 1 for a time window). Nothing is emitted
    between values.

    Reducers: ``"mean"``, ``"sum"``, ``"min"``, ``"max"`` (O(1) amortised per
    value), ``"vwap"`` (the mean weighted by ``weight(item)``, e.g. a trade's
    ``last_size``; values without a weight are skipped), or any function of the
    window's values, oldest first (O(window) per value).

    .. code-block:: text

        --1--2--3--6--|                    (one key)
        [ rolling(3, reducer="mean") ]
        --------2--3.67|
                ^ the first full window: (1 + 2 + 3) / 3

    Example:
        >>> ticks.pipe(rxo.rolling(20))                       # SMA20 of each symbol's mid
        >>> ticks.pipe(rxo.rolling(seconds=300, reducer="vwap",
        ...                        value=attrgetter("last"), weight=attrgetter("last_size"),
        ...                        scheduler=ctx.scheduler))  # five-minute VWAP of trades

    Args:
        size: Window length in values (give ``size`` or ``seconds``, not both).
        seconds: Window length in time, in seconds or as a timedelta.
        reducer: What to compute over the window.
        key: Keeps one window per key (default: the value's ``symbol``); ``None`` for a single window.
        value: The number of an item, or ``None`` to skip it (default: its ``mid``).
        weight: The weight of an item for ``"vwap"`` (required there, ignored otherwise).
        min_count: Emit only once a window holds this many values.
        scheduler: Clock for time windows; defaults to the scheduler given to ``subscribe``.

    Returns:
        A pipeable operator emitting :class:`RollingValue` records.
    """
    if (size is None) == (seconds is None):
        raise ConfigError("rolling", "give a window as size=N values or seconds=S, not both, not neither")
    span: timedelta | None = None
    if size is not None and (type(size) is not int or size < 1):
        raise ConfigError("rolling.size", f"must be a positive integer, got {size!r}")
    if seconds is not None:
        span = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if span <= timedelta(0):
            raise ConfigError("rolling.seconds", f"must be positive, got {seconds!r}")
    if not callable(reducer) and reducer not in ("mean", "vwap", "min", "max", "sum"):
        raise ConfigError("rolling.reducer", f"expected mean, vwap, min, max, sum or a function, got {reducer!r}")
    if reducer == "vwap" and weight is None:
        raise ConfigError("rolling.weight", "vwap needs weight=..., e.g. attrgetter('last_size')")
    needed = min_count if min_count is not None else (size or 1)
    if needed < 1:
        raise ConfigError("rolling.min_count", f"must be at least 1, got {min_count!r}")
    weigh = weight if reducer == "vwap" else None
    key_of = key or (lambda _: None)

    def reduce(window: _Window) -> float | None:
        if window.sums is not None:
            if reducer == "sum":
                return window.sums.weighted
            return window.sums.weighted / window.sums.weights if window.sums.weights else None
        if window.extreme is not None:
            return window.extreme.candidates[0][1]
        return reducer([v for _, v, _ in window.entries])  # type: ignore[operator]

    def _rolling(source: Observable[_T]) -> Observable[RollingValue[_T]]:
        def subscribe(
            observer: abc.ObserverBase[RollingValue[_T]], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = require_scheduler("rolling", scheduler, scheduler_) if span is not None else None
            windows: dict[Hashable, _Window] = {}

            def next_(item: _T) -> None:
                v = value(item)
                if v is None:
                    return
                w = 1.0
                if weigh is not None:
                    w_ = weigh(item)
                    if w_ is None:
                        return
                    w = w_
                k = key_of(item)
                window = windows.get(k)
                if window is None:
                    window = windows[k] = _Window(reducer)
                entries = window.entries
                if clock is not None and span is not None:
                    now: datetime = clock.now
                    window.add(now, v, w)
                    oldest = now - span
                    while entries[0][0] <= oldest:
                        window.pop_oldest()
                else:
                    window.add(None, v, w)
                    if len(entries) > size:  # type: ignore[operator]
                        window.pop_oldest()
                if len(entries) < needed:
                    return
                result = reduce(window)
                if result is not None:
                    observer.on_next(RollingValue(k, result, len(entries), item))

            return source.subscribe(next_, observer.on_error, observer.on_completed, scheduler=scheduler_)

        return Observable(subscribe)

    return _rolling
