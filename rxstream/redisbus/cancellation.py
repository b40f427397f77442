"""Stopping the bus's loops for sure, even when a cancellation is lost on its way.

On Python 3.11 ``asyncio.wait_for`` returns the result instead of raising
``CancelledError`` when the task running it is cancelled in the loop turn in
which the awaited operation finishes (CPython gh-86296, fixed in 3.12).
redis-py wraps every command's socket write in ``wait_for``, so a
``task.cancel()`` that arrives just as a command is sent is lost: the command
completes and the task carries on. A loop that follows Redis forever then never
ends, and whoever awaits it after cancelling (``RedisReader.close()``, a
shutdown) waits forever.

The request is not forgotten, though: ``Task.cancelling()`` still counts it.
Each loop here calls :func:`raise_if_cancelled` between commands, so a lost
cancellation stops the loop at its next step, as the one that got through would.
"""

from __future__ import annotations

import asyncio

__all__ = ["cancel_requests", "raise_if_cancelled"]


def cancel_requests() -> int:
    """How many cancellations the running task has been asked for and not withdrawn (0 outside a task)."""
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def raise_if_cancelled(since: int = 0) -> None:
    """Raise ``CancelledError`` if the running task was asked to cancel more than ``since`` times.

    ``since`` is :func:`cancel_requests` taken when a loop began, for a loop that runs in
    someone else's task; a task of our own starts from 0.
    """
    if cancel_requests() > since:
        raise asyncio.CancelledError
