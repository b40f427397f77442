"""Per-key conflation: the first value at once, then at most one per interval, always the latest."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..direct import DirectObservable
from ..errors import ArgumentError
from ._scheduling import require_scheduler

__all__ = ["conflate"]

_T = TypeVar("_T")


def _single_key(_: Any) -> None:
    return None


def conflate(
    interval: float | timedelta,
    key: Callable[[_T], Hashable] | None = None,
    *,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Conflate per key: the first value at once, then the latest at most once per ``interval``.

    A value arriving while a key's window is open replaces that key's pending
    value; when the window closes the pending value is emitted and a new window
    opens, otherwise the key goes idle and its next value passes at once. Only a
    window that holds a value back costs a timer. When
    the source completes (or fails) pending values are flushed first, so the
    last value of every key is always delivered — unlike ``throttle_first``,
    which drops it, and unlike ``sample``, which holds it until its next tick.

    .. code-block:: text

        ---a1-a2-a3---------b1----a4--|      (interval = 5 ticks, key = letter)
        [   conflate(5, key=letter)   ]
        ---a1----a3---------b1----a4--|
                 ^ window of a1 closes: latest a3

    Args:
        interval: Minimum spacing per key, in seconds or as a timedelta.
        key: Groups values (e.g. ``lambda t: t.symbol``); ``None`` conflates everything together.
        scheduler: Clock for the windows; defaults to the scheduler given to ``subscribe``.

    Returns:
        A pipeable operator.
    """
    step = interval if isinstance(interval, timedelta) else timedelta(seconds=interval)
    if step <= timedelta(0):
        raise ArgumentError("conflate", f"interval must be positive, got {interval!r}")
    key_of = key or _single_key

    def _conflate(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = require_scheduler("conflate", scheduler, scheduler_)
            window_end: dict[Hashable, datetime] = {}  # key -> end of its last window
            pending: dict[Hashable, Any] = {}  # key -> latest value waiting for its window to end
            timers: dict[Hashable, abc.DisposableBase] = {}  # key -> the timer that will emit it
            on_next = observer.on_next

            def close_window(_: abc.SchedulerBase, k: Hashable) -> None:
                del timers[k]
                value = pending.pop(k)
                window_end[k] += step  # the emission opens the next window
                on_next(value)

            def next_(value: _T) -> None:
                k = key_of(value)
                now = clock.now
                end = window_end.get(k)
                if end is None or now >= end:  # idle key: at once
                    window_end[k] = now + step
                    on_next(value)
                    return
                if k not in timers:  # the first value held back in this window arms its timer
                    timers[k] = clock.schedule_absolute(end, close_window, k)
                pending[k] = value

            def cancel() -> None:
                for timer in timers.values():
                    timer.dispose()
                timers.clear()

            def flush() -> None:
                cancel()
                values = list(pending.values())
                pending.clear()
                for value in values:
                    on_next(value)

            def error(exc: Exception) -> None:
                flush()
                observer.on_error(exc)

            def completed() -> None:
                flush()
                observer.on_completed()

            subscription = source.subscribe(next_, error, completed, scheduler=scheduler_)
            return CompositeDisposable(subscription, Disposable(cancel))

        return DirectObservable(subscribe)

    return _conflate
