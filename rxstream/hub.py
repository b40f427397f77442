"""A hot, multicast entry point for events: what a source pushes into and pipelines read from.

A :class:`Hub` is an :class:`~reactivex.Observable` (so pipelines ``.pipe()`` it
like any other) and an observer (so any observable can be subscribed into it).
Compared with :class:`reactivex.subject.Subject` it takes no lock and copies no
list per value — it belongs to one thread, the engine's loop or the virtual-time
replay — and one failing subscriber cannot make the others miss a value: the
exception is delivered to that subscriber as ``on_error`` and the rest carry on.

Events:
    every value pushed with :meth:`on_next`, to each subscriber in subscription order.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["Hub"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Hub(Observable[_T], Generic[_T]):
    """A named hot source; not thread-safe (see :mod:`rxstream.bridge` for other threads)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._observers: tuple[abc.ObserverBase[_T], ...] = ()

    def __repr__(self) -> str:
        return f"Hub({self.name!r}, subscribers={len(self._observers)})"

    @property
    def subscriber_count(self) -> int:
        """How many observers are subscribed now."""
        return len(self._observers)

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        self._observers = (*self._observers, observer)

        def remove() -> None:
            self._observers = tuple(o for o in self._observers if o is not observer)

        return Disposable(remove)

    def on_next(self, value: _T) -> None:
        """Push ``value`` to every subscriber."""
        for observer in self._observers:
            try:
                observer.on_next(value)
            except Exception as error:  # noqa: BLE001 - isolate subscribers from each other
                log.debug("hub %s: subscriber %r failed", self.name, observer, exc_info=True)
                observer.on_error(error)

    def on_error(self, error: Exception) -> None:
        """Pass an error to every subscriber (they end, as Rx says)."""
        for observer in self._observers:
            observer.on_error(error)

    def on_completed(self) -> None:
        """Complete every subscriber."""
        for observer in self._observers:
            observer.on_completed()

    def __call__(self, value: Any) -> None:
        """Alias of :meth:`on_next`, so a hub can be registered as a callback."""
        self.on_next(value)
