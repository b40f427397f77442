"""Resubscribe after exponentially growing, jittered, capped delays."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SerialDisposable

from ..direct import DirectObservable
from ..errors import ArgumentError, ConfigError
from ..health import HealthMonitor
from ._scheduling import require_scheduler

__all__ = ["Backoff", "retry_with_backoff"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Backoff:
    """Delays ``initial * factor**n``, each spread by ±``jitter`` (a fraction), capped at ``maximum``."""

    def __init__(
        self,
        initial: float = 1.0,
        factor: float = 2.0,
        maximum: float = 60.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or factor < 1 or maximum < initial or not 0 <= jitter < 1:
            raise ArgumentError(
                "backoff", f"need initial > 0, factor >= 1, maximum >= initial, 0 <= jitter < 1; "
                f"got initial={initial}, factor={factor}, maximum={maximum}, jitter={jitter}"
            )
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before recovery attempt ``attempt`` (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt - 1, 64))  # no float overflow
        if self.jitter:
            base *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return min(self.maximum, base)


def retry_with_backoff(
    backoff: Backoff | None = None,
    *,
    max_attempts: int | None = None,
    health: HealthMonitor | None = None,
    stream: str | None = None,
    scheduler: abc.SchedulerBase | None = None,
    on_retry: Callable[[int, float, Exception], None] | None = None,
    record: bool = False,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """On error, resubscribe to the source after a backoff delay instead of failing.

    Attempt *n* waits ``backoff.delay(n)`` on ``scheduler``; the count restarts
    after a value gets through, so a stream that recovers starts again from the
    short delays. After ``max_attempts`` consecutive
    failures the error is passed on. Each resubscription is recorded on
    ``health`` as a recovery attempt of ``stream``; recording the errors
    themselves is :func:`monitor`'s job, placed before this operator.

    .. code-block:: text

        --a--X                                   (delays 1, 2, 4 …)
               -(1s)-b--X
                          -(1s)-c--X
        [ retry_with_backoff(Backoff(1, 2, jitter=0)) ]
        --a-------b---------------c--…

    Stock ``retry`` resubscribes at once: a persistent failure becomes a hot loop.

    Args:
        backoff: The delay schedule (default 1 s doubling to 60 s, ±10 % jitter).
        max_attempts: Give up after this many consecutive failures (default: never).
        health: Monitor to report recovery attempts to.
        stream: Stream name on ``health``.
        scheduler: Clock for the delays; defaults to the scheduler given to ``subscribe``.
        on_retry: Called with (attempt, delay, error) before each wait.
        record: Also do :func:`monitor`'s job on ``health`` in the same stage (every value an
            update, every error an error): one call per value fewer than
            ``monitor(...)`` followed by this operator, which the engine uses behind every pipeline.
    """
    schedule = backoff or Backoff()
    if health is not None and stream is None:
        raise ArgumentError("retry_with_backoff", "health needs a stream name")
    if record and health is None:
        raise ConfigError("record", "retry_with_backoff(record=True) needs health= and stream=")
    if health is not None:
        health.register(stream)  # type: ignore[arg-type]

    if record:
        monitor: HealthMonitor = health  # type: ignore[assignment]
        state = monitor.get(stream)  # type: ignore[arg-type]

    def _retry(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = require_scheduler("retry_with_backoff", scheduler, scheduler_)
            attempt = 0
            current = SerialDisposable()
            waiting = SerialDisposable()

            emit = observer.on_next

            def next_(value: _T) -> None:
                nonlocal attempt
                attempt = 0
                emit(value)

            def next_recorded(value: _T) -> None:  # health.record_update inlined: once per value out
                nonlocal attempt
                attempt = 0
                state.last_update = monitor.scheduler.now
                state.total_updates += 1
                state.error_count = 0
                emit(value)

            def error(exc: Exception) -> None:
                nonlocal attempt
                if record:
                    monitor.record_error(stream, exc)  # type: ignore[arg-type]
                attempt += 1
                if max_attempts is not None and attempt > max_attempts:
                    observer.on_error(exc)
                    return
                delay = schedule.delay(attempt)
                if health is not None:
                    health.record_recovery_attempt(stream)  # type: ignore[arg-type]
                if on_retry is not None:
                    on_retry(attempt, delay, exc)
                log.warning("%s failed (%s); retry %d in %.2fs", stream or "stream", exc, attempt, delay)
                waiting.disposable = clock.schedule_relative(delay, lambda *_: subscribe_once())

            def subscribe_once() -> None:
                forward = next_recorded if record else next_
                current.disposable = source.subscribe(forward, error, observer.on_completed, scheduler=scheduler_)

            subscribe_once()
            return CompositeDisposable(current, waiting)

        return DirectObservable(subscribe)

    return _retry
