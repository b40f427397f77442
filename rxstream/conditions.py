"""Waiting for a state: a predicate re-checked each time its owner says something changed.

The simulator and the IBKR feed expose ``wait_for(predicate, timeout)`` so that
tests and tools wait for a condition ("connected", "two fills published")
instead of sleeping; both keep their waiters here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["Conditions"]


class Conditions:
    """Pending ``wait_for`` calls; the owner calls :meth:`notify` after each change of state."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def __bool__(self) -> bool:
        """Whether anyone is waiting (so the owner can skip :meth:`notify` on hot paths)."""
        return bool(self._waiters)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Return once ``predicate()`` holds; ``TimeoutError`` after ``timeout`` seconds."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def notify(self) -> None:
        """Re-check every waiter's predicate; wake those that hold."""
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)

    def cancel_all(self) -> None:
        """Cancel every pending wait (the owner is stopping)."""
        for _, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters.clear()
