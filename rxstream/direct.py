"""Observables that hand each value straight to their subscriber's function.

reactivex wraps every subscriber in an ``AutoDetachObserver``, one extra
Python call per value per stage, which guards against values after the end.
A :class:`DirectObserver` gives the same guarantee by detaching itself when it
ends, so its ``on_next`` can be the subscriber's own function. The engine's
hubs and rxstream's operators subscribe this way; any reactivex operator
composes with them unchanged (they are ordinary :class:`~reactivex.Observable`
instances).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from reactivex import Observable, abc

__all__ = ["DirectObservable", "DirectObserver", "observer_functions"]

_T = TypeVar("_T")


def _ignore(*_: Any) -> None:
    """Accept anything, do nothing."""


def _raise(error: Exception) -> None:
    """The default ``on_error``: an unhandled error is raised, as reactivex does."""
    raise error


class DirectObserver:
    """A subscriber: ``on_next`` is the subscriber's own function; ending detaches it.

    After ``on_error`` or ``on_completed`` every notification is ignored and
    :attr:`detach` (set by the observable to dispose the subscription) has run.
    """

    __slots__ = ("_on_completed", "_on_error", "detach", "on_next", "stopped")

    def __init__(self, on_next: Callable[[Any], Any], on_error: Callable[[Exception], None],
                 on_completed: Callable[[], None]) -> None:
        self.on_next = on_next
        self._on_error = on_error
        self._on_completed = on_completed
        self.detach: Callable[[], None] = _ignore
        self.stopped = False

    def _stop(self) -> bool:
        if self.stopped:
            return False
        self.stopped = True
        self.on_next = _ignore
        self.detach()
        return True

    def on_error(self, error: Exception) -> None:
        """End with ``error`` (once)."""
        if self._stop():
            self._on_error(error)

    def on_completed(self) -> None:
        """End normally (once)."""
        if self._stop():
            self._on_completed()


def observer_functions(
    on_next: abc.ObserverBase[Any] | Callable[[Any], Any] | None,
    on_error: Callable[[Exception], None] | None,
    on_completed: Callable[[], None] | None,
) -> DirectObserver:
    """A :class:`DirectObserver` from ``subscribe()``'s arguments (an observer or up to three functions)."""
    if on_next is not None and callable(getattr(on_next, "on_next", None)):
        observer = cast(abc.ObserverBase[Any], on_next)
        return DirectObserver(observer.on_next, observer.on_error, observer.on_completed)
    return DirectObserver(cast(Callable[[Any], Any], on_next or _ignore), on_error or _raise, on_completed or _ignore)


class DirectObservable(Observable[_T]):
    """An :class:`~reactivex.Observable` made from a subscribe function, minus the per-value wrapper.

    ``subscribe(observer, scheduler)`` gets a :class:`DirectObserver`; an
    exception it raises is delivered as ``on_error``, as reactivex does.
    """

    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | Callable[[_T], Any] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_completed: Callable[[], None] | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe like any observable; ``on_next`` is called directly."""
        direct = observer_functions(on_next, on_error, on_completed)
        try:
            subscription = self._subscribe_core(cast(abc.ObserverBase[_T], direct), scheduler)
        except Exception as error:
            if direct.stopped:
                raise
            direct.on_error(error)
            return _Ended()
        if direct.stopped:  # it ended while subscribing: nothing to keep
            subscription.dispose()
        else:
            direct.detach = subscription.dispose
        return subscription


class _Ended(abc.DisposableBase):
    """The subscription of an observer that ended while subscribing."""

    def dispose(self) -> None:
        """Nothing to release."""
