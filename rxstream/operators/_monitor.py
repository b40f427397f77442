"""Health taps: report a stream's values and errors to a HealthMonitor, never disturbing it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable
from reactivex import operators as ops

from ..health import HealthMonitor

__all__ = ["monitor"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def monitor(health: HealthMonitor, stream: str) -> Callable[[Observable[_T]], Observable[_T]]:
    """Record every value as an update and every error as an error of ``stream``.

    Built on ``do_action``, but a failure inside the health side effect is
    logged and swallowed: stock ``do_action`` would end the stream with it.
    Values and errors pass through unchanged.

    .. code-block:: text

        --a--b--c--X
        [ monitor(health, "prices") ]     health: 3 updates, 1 error
        --a--b--c--X
    """
    health.register(stream)

    def on_next(_: object) -> None:
        try:
            health.record_update(stream)
        except Exception:
            log.exception("health tap of %s failed; the stream goes on", stream)

    def on_error(error: Exception) -> None:
        try:
            health.record_error(stream, error)
        except Exception:
            log.exception("health tap of %s failed; the stream goes on", stream)

    return ops.do_action(on_next, on_error)
