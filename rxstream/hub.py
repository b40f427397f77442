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
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .direct import DirectObserver, observer_functions

__all__ = ["Hub"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Hub(Observable[_T], Generic[_T]):
    """A named hot source; not thread-safe (see :mod:`rxstream.bridge` for other threads)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.observers: tuple[abc.ObserverBase[_T], ...] = ()
        """The subscribers now, in subscription order (read-only: a new tuple on each change)."""
        self.sole: tuple[abc.ObserverBase[_T], Callable[[_T], Any]] | None = None
        """``(subscriber, its on_next function)`` while the only subscriber is a direct one, else ``None``.

        A hot loop calls the function itself, one call per value fewer than :meth:`on_next`.
        It stays valid until :attr:`observers` changes: a direct subscriber's
        ``on_next`` only changes when it ends, and ending removes it from the hub.
        """

    def __repr__(self) -> str:
        return f"Hub({self.name!r}, subscribers={len(self.observers)})"

    @property
    def subscriber_count(self) -> int:
        """How many observers are subscribed now."""
        return len(self.observers)

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        self._set_observers((*self.observers, observer))

        def remove() -> None:
            self._set_observers(tuple(o for o in self.observers if o is not observer))

        return Disposable(remove)

    def _set_observers(self, observers: tuple[abc.ObserverBase[_T], ...]) -> None:
        self.observers = observers
        only = observers[0] if len(observers) == 1 else None
        self.sole = (only, only.on_next) if type(only) is DirectObserver else None

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | Callable[[_T], Any] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_completed: Callable[[], None] | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe like any observable, minus a wrapper layer per value.

        reactivex wraps every subscriber in an ``AutoDetachObserver`` that guards
        against values after the end; a hub removes a subscriber when it ends,
        so here ``on_next`` is called directly.
        """
        direct = observer_functions(on_next, on_error, on_completed)
        subscription = self._subscribe_core(cast(abc.ObserverBase[_T], direct))
        direct.detach = subscription.dispose
        return subscription

    def on_next(self, value: _T) -> None:
        """Push ``value`` to every subscriber."""
        sole = self.sole
        if sole is not None:  # one subscriber: its function, minus the loop
            try:
                sole[1](value)
            except Exception as error:
                self.fail(sole[0], error)
            return
        for observer in self.observers:
            try:
                observer.on_next(value)
            except Exception as error:  # isolate subscribers from each other
                self.fail(observer, error)

    def fail(self, observer: abc.ObserverBase[_T], error: Exception) -> None:
        """End ``observer``, which raised ``error`` from ``on_next``, with ``on_error``; the others never notice.

        :meth:`on_next` calls it; so does a replay that iterates :attr:`observers` itself.
        """
        log.debug("hub %s: subscriber %r failed", self.name, observer, exc_info=True)
        try:
            observer.on_error(error)
        except Exception:
            log.exception("hub %s: a subscriber failed and had no error handler", self.name)

    def on_error(self, error: Exception) -> None:
        """Pass an error to every subscriber (they end, as Rx says)."""
        for observer in self.observers:
            observer.on_error(error)

    def on_completed(self) -> None:
        """Complete every subscriber."""
        for observer in self.observers:
            observer.on_completed()

    def __call__(self, value: Any) -> None:
        """Alias of :meth:`on_next`, so a hub can be registered as a callback."""
        self.on_next(value)
