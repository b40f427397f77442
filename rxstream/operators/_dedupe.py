"""Drop repeated values by key, remembering a bounded number of keys."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from reactivex import Observable, abc

from ..errors import ArgumentError

__all__ = ["dedupe"]

_T = TypeVar("_T")


def dedupe(key: Callable[[_T], Hashable], capacity: int = 100_000) -> Callable[[Observable[_T]], Observable[_T]]:
    """Pass each key's first value, drop later ones; remember the last ``capacity`` keys.

    Fills are deduplicated by exec id this way: a broker resends past executions
    after every reconnect. Memory is bounded: once ``capacity`` keys are held,
    the least recently seen is forgotten.

    .. code-block:: text

        --e1--e2--e1--e3--e2--|
        [ dedupe(lambda f: f.exec_id) ]
        --e1--e2------e3------|
    """
    if capacity < 1:
        raise ArgumentError("dedupe", f"capacity must be at least 1, got {capacity}")

    def _dedupe(source: Observable[_T]) -> Observable[_T]:
        def subscribe(observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            seen: OrderedDict[Hashable, None] = OrderedDict()

            def next_(value: _T) -> None:
                k = key(value)
                if k in seen:
                    seen.move_to_end(k)
                    return
                seen[k] = None
                if len(seen) > capacity:
                    seen.popitem(last=False)
                observer.on_next(value)

            return source.subscribe(next_, observer.on_error, observer.on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return _dedupe
