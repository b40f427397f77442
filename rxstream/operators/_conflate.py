"""Per-key conflation: the first value at once, then at most one per interval, always the latest."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..direct import DirectObservable
from ..errors import ArgumentError
from ..virtualtime import ReplayScheduler
from ._scheduling import require_scheduler

__all__ = ["conflate"]

_T = TypeVar("_T")


def _single_key(_: Any) -> None:
    return None


def _dispose(timer: abc.DisposableBase) -> None:
    timer.dispose()


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
            arm: Callable[[Any, Any, Any], Any]
            disarm: Callable[[Any], None]
            own_timers = type(clock).schedule_absolute is ReplayScheduler.schedule_absolute
            if isinstance(clock, ReplayScheduler) and own_timers:  # the replay clock's: no disposable each
                arm, disarm = clock.add_timer, clock.cancel_timer
            else:
                arm, disarm = clock.schedule_absolute, _dispose
            windows: dict[Hashable, list[Any]] = {}  # key -> [end of its last window, latest value, timer, key]
            held: dict[Hashable, list[Any]] = {}  # the windows holding a value back, in the order they began to
            on_next = observer.on_next

            def close_window(_: abc.SchedulerBase, window: Any) -> None:
                del held[window[3]]
                window[2] = None
                window[0] += step  # the emission opens the next window
                on_next(window[1])

            def next_(value: _T) -> None:
                k = key_of(value)
                try:
                    window = windows[k]
                except KeyError:  # a new key: at once
                    windows[k] = [clock.now + step, None, None, k]
                    on_next(value)
                    return
                if clock.now < window[0]:  # its window is open: hold the value back
                    if window[2] is None:  # the first value held back in this window arms its timer
                        held[k] = window
                        window[2] = arm(window[0], close_window, window)
                    window[1] = value
                    return
                window[0] = clock.now + step  # an idle key: at once
                on_next(value)

            def cancel() -> None:
                for window in held.values():
                    if window[2] is not None:
                        disarm(window[2])
                        window[2] = None

            def flush() -> None:
                cancel()
                values = [window[1] for window in held.values()]
                held.clear()
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
