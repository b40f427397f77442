"""How commands stop: on a stop signal, or when the reader of their output leaves.

:func:`stop_on_signals` is the one stop-signal helper: SIGINT (Ctrl-C) and
SIGTERM set an :class:`asyncio.Event`. Every long-running command (``demo``,
``sim``, ``record``) waits on the event and then stops in order: clients get
their close frames, sockets are closed, files are flushed. The handlers belong
to the running loop and go with it.

:func:`reader_left` is what a command does when ``stdout`` is a pipe whose reader
went away (``rxstream replay ... | head -2``): nothing more is written, and the
interpreter's final flush does not fail either.

:func:`quiet_cancelled_connect` keeps a stop from looking like a failure: the
broker library logs a connect that was cancelled as an ERROR, and while a
command runs, that cancel is always its own stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

__all__ = ["STOP_SIGNALS", "quiet_cancelled_connect", "reader_left", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that ask a command to stop."""


def stop_on_signals(event: asyncio.Event | None = None) -> asyncio.Event:
    """An event (``event``, or a new one) that SIGINT and SIGTERM set on the running loop.

    Where the loop cannot take signal handlers (not the main thread, Windows),
    the event is returned as is: set it yourself.
    """
    stop = event if event is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def reader_left() -> None:
    """Point ``stdout`` at the null device: its reader left, and the exit must not fail on a flush."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _CancelledConnect(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "CancelledError" not in record.getMessage()


@contextlib.contextmanager
def quiet_cancelled_connect() -> Iterator[None]:
    """Drop the broker library's ``API connection failed: CancelledError()`` while inside."""
    loggers = [logging.getLogger(f"{library}.client") for library in ("ib_insync", "ib_async")]
    quiet = _CancelledConnect()
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)
