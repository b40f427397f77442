"""Element isolation: a failure of user code on one value skips that value, not the stream."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc

from ..direct import DirectObservable
from ..health import HealthMonitor

__all__ = ["safe_filter", "safe_map"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

_SKIP: Any = object()


def _isolated(
    step: Callable[[_T], _R], health: HealthMonitor | None, stream: str | None
) -> Callable[[Observable[_T]], Observable[_R]]:
    """Apply ``step`` to each value; a raise is recorded and the value skipped (``_SKIP`` drops it)."""

    def operator(source: Observable[_T]) -> Observable[_R]:
        def subscribe(observer: abc.ObserverBase[_R], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            emit = observer.on_next

            def next_(value: _T) -> None:
                try:
                    result = step(value)
                except Exception as error:
                    log.warning("%s: skipped %r: %s: %s", stream or "stream", value, type(error).__name__, error)
                    if health is not None:
                        health.record_error(stream, error)  # type: ignore[arg-type]
                    return
                if result is not _SKIP:
                    emit(result)  # downstream errors are not ours to swallow

            return source.subscribe(next_, observer.on_error, observer.on_completed, scheduler=scheduler)

        return DirectObservable(subscribe)

    return operator


def safe_map(
    mapper: Callable[[_T], _R], *, health: HealthMonitor | None = None, stream: str | None = None
) -> Callable[[Observable[_T]], Observable[_R]]:
    """Like ``map``, but a value whose ``mapper`` raises is skipped and recorded as an error.

    .. code-block:: text

        --1--2--0--4--|
        [ safe_map(lambda x: 8 // x) ]     health: 1 error (ZeroDivisionError)
        --8--4-----2--|

    The error goes to ``health`` as an error of ``stream`` (and to the log);
    the stream goes on. Exceptions raised downstream are not swallowed.
    """
    return _isolated(mapper, health, stream)


def safe_filter(
    predicate: Callable[[_T], bool], *, health: HealthMonitor | None = None, stream: str | None = None
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Like ``filter``, but a value whose ``predicate`` raises is skipped and recorded as an error.

    .. code-block:: text

        --a--b--c--|
        [ safe_filter(p) ]      p(b) raises: health gets 1 error
        --a-----c--|
    """
    return _isolated(lambda value: value if predicate(value) else _SKIP, health, stream)
