"""Callback-registration APIs as hot observables, safe to fire from any thread.

A strategy evaluator's ``signal_callbacks`` list, an IBKR client's
order-filled callbacks: code that *calls you back* becomes an observable.
Subscribing registers one handler; disposing the subscription unregisters it.
With a ``loop``, every callback — from whichever thread — is handed to the
loop with ``call_soon_threadsafe``, so values arrive on the engine's loop in
the order the callbacks were made; without one they are delivered at once
(virtual-time tests).

>>> callbacks = []
>>> seen = []
>>> subscription = from_callback_list(callbacks).subscribe(seen.append)
>>> for cb in callbacks: cb("BUY EURUSD")
>>> subscription.dispose()
>>> seen, callbacks
(['BUY EURUSD'], [])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["from_callback_list", "from_callbacks"]

_T = TypeVar("_T")


def from_callbacks(
    register: Callable[[Callable[..., None]], Any],
    unregister: Callable[[Callable[..., None]], Any],
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    transform: Callable[..., _T] | None = None,
) -> Observable[_T]:
    """An observable of the calls made to a handler registered with ``register``.

    Args:
        register: Registers a handler (e.g. ``callbacks.append`` or ``event.connect``).
        unregister: Removes it again (e.g. ``callbacks.remove``).
        loop: Deliver on this loop, from any thread; ``None`` delivers synchronously.
        transform: Turns the callback's arguments into the value (default: the single
            argument, or a tuple of several).
    """

    def subscribe(observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        active = True

        def deliver(value: _T) -> None:
            if active:
                observer.on_next(value)

        def handler(*args: Any) -> None:
            value: Any
            if transform is not None:
                value = transform(*args)
            else:
                value = args[0] if len(args) == 1 else args
            if loop is None:
                deliver(value)
            else:
                loop.call_soon_threadsafe(deliver, value)

        register(handler)
        lock = threading.Lock()

        def dispose() -> None:
            nonlocal active
            with lock:
                if not active:
                    return
                active = False
            unregister(handler)

        return Disposable(dispose)

    return Observable(subscribe)


def from_callback_list(
    callbacks: list[Callable[..., None]],
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    transform: Callable[..., _T] | None = None,
) -> Observable[_T]:
    """:func:`from_callbacks` for the common case of a plain list of callbacks."""
    return from_callbacks(callbacks.append, callbacks.remove, loop=loop, transform=transform)
