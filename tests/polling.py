"""Polling with a deadline: for the few conditions that nothing announces.

Wait on what the other side says wherever it says something: a line a process
prints, an event the simulator or the bus raises, a message a client receives.
Poll only a state that changes with no notice to this process, for example a
file another process writes (its content is the signal) or ``/proc`` (a
process that has not yet said anything). Then use these two, never a bare sleep:
they re-check often, and fail with ``what`` named once the deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["eventually", "wait_until"]

INTERVAL = 0.02
"""Seconds between two checks: short beside any deadline, long beside one check's cost."""


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = INTERVAL,
    what: str = "",
) -> Any:
    """Re-check ``check`` (plain or async) until it returns something truthy, and return that;
    raise ``AssertionError`` naming ``what`` after ``timeout`` seconds. The loop keeps running between checks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not met within {timeout} s: {what or check}")
        await asyncio.sleep(interval)


def wait_until(check: Callable[[], Any], *, timeout: float, interval: float = INTERVAL, what: str = "") -> Any:
    """:func:`eventually` for code outside an event loop: blocks this thread between checks."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout} s: {what or check}")
        time.sleep(interval)
