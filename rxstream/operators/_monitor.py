"""Health taps: report a stream's values and errors to a HealthMonitor, never disturbing it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc

from ..direct import DirectObservable
from ..health import HealthMonitor

__all__ = ["monitor"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def monitor(health: HealthMonitor, stream: str) -> Callable[[Observable[_T]], Observable[_T]]:
    """Record every value as an update and every error as an error of ``stream``.

    A ``do_action`` whose side effects are guarded: a failure inside the health
    tap is logged and swallowed, where stock ``do_action`` would end the stream
    with it. Values and errors pass through unchanged.

    .. code-block:: text

        --a--b--c--X
        [ monitor(health, "prices") ]     health: 3 updates, 1 error
        --a--b--c--X
    """
    health.register(stream)
    record_update, record_error = health.record_update, health.record_error

    def _monitor(source: Observable[_T]) -> Observable[_T]:
        def subscribe(observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            forward = observer.on_next

            def next_(value: _T) -> None:
                try:
                    record_update(stream)
                except Exception:
                    log.exception("health tap of %s failed; the stream goes on", stream)
                forward(value)

            def error(exc: Exception) -> None:
                try:
                    record_error(stream, exc)
                except Exception:
                    log.exception("health tap of %s failed; the stream goes on", stream)
                observer.on_error(exc)

            return source.subscribe(next_, error, observer.on_completed, scheduler=scheduler)

        return DirectObservable(subscribe)

    return _monitor
