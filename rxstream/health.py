"""Per-stream health: updates, consecutive errors, recovery attempts and staleness.

A stream is *unhealthy* when any of these holds:

* ``error_threshold`` (default 10) consecutive errors were recorded; a successful
  update resets the count;
* nothing was recorded as an update for ``stale_after`` (default 300 s), counted
  from the last update or, before the first one, from registration;
* it was marked down (a broker disconnect, for example) and not yet marked up.

The monitor reads time from a reactivex scheduler, so the same rules hold in
virtual time (tests, replays) and on the live loop. There is no module-level
instance: each :class:`~rxstream.engine.Engine` owns one.

>>> from reactivex.scheduler import HistoricalScheduler
>>> from datetime import timedelta
>>> scheduler = HistoricalScheduler()
>>> health = HealthMonitor(scheduler)
>>> health.register("prices")
>>> for _ in range(10):
...     health.record_error("prices", "feed timeout")
>>> health.is_healthy("prices")
False
>>> health.record_update("prices")
>>> health.is_healthy("prices")
True
>>> scheduler.advance_by(timedelta(minutes=5))
>>> health.is_healthy("prices")
False
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reactivex.abc import SchedulerBase

from .errors import ConfigError

__all__ = ["HealthMonitor", "StreamHealth"]


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:  # reactivex's virtual clocks may be naive; they count UTC
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class StreamHealth:
    """The mutable record the monitor keeps for one stream."""

    name: str
    started_at: datetime
    last_update: datetime | None = None
    error_count: int = 0
    total_errors: int = 0
    total_updates: int = 0
    recovery_attempts: int = 0
    last_error: str | None = None
    down_reason: str | None = None
    last_error_at: datetime | None = None
    """When ``last_error`` happened: a healthy stream's ``last_error`` is history, not its state."""


class HealthMonitor:
    """Tracks the health of named streams against a scheduler's clock."""

    def __init__(
        self,
        scheduler: SchedulerBase,
        *,
        error_threshold: int = 10,
        stale_after: float | timedelta = 300.0,
    ) -> None:
        if error_threshold < 1:
            raise ConfigError("error_threshold", f"must be at least 1, got {error_threshold}")
        stale = stale_after if isinstance(stale_after, timedelta) else timedelta(seconds=stale_after)
        if stale <= timedelta(0):
            raise ConfigError("stale_after", f"must be positive, got {stale_after}")
        self.scheduler = scheduler
        self.error_threshold = error_threshold
        self.stale_after = stale
        self._streams: dict[str, StreamHealth] = {}

    # --- recording ------------------------------------------------------------------

    def register(self, stream: str) -> None:
        """Start tracking ``stream`` (again: registering resets nothing already tracked)."""
        self._get(stream)

    def _get(self, stream: str) -> StreamHealth:
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = StreamHealth(stream, self.scheduler.now)
        return state

    def record_update(self, stream: str) -> None:
        """A value went through: the stream is live and its error count resets."""
        state = self._get(stream)
        state.last_update = self.scheduler.now
        state.total_updates += 1
        state.error_count = 0

    def record_error(self, stream: str, error: BaseException | str) -> None:
        """One more consecutive error."""
        state = self._get(stream)
        state.error_count += 1
        state.total_errors += 1
        state.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        state.last_error_at = self.scheduler.now

    def record_recovery_attempt(self, stream: str) -> None:
        """The stream is being resubscribed or reconnected."""
        self._get(stream).recovery_attempts += 1

    def mark_down(self, stream: str, reason: str) -> None:
        """Unhealthy until :meth:`mark_up`, whatever else is recorded (e.g. broker disconnected)."""
        state = self._get(stream)
        if state.down_reason != reason:  # marked down again for the same reason: still the same error
            state.last_error_at = self.scheduler.now
        state.down_reason = reason
        state.last_error = reason

    def mark_up(self, stream: str) -> None:
        """Clear a :meth:`mark_down`."""
        self._get(stream).down_reason = None

    # --- reading --------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        """Names of the tracked streams, in registration order."""
        return list(self._streams)

    def get(self, stream: str) -> StreamHealth:
        """The record of ``stream``; raises ``KeyError`` if it was never registered."""
        return self._streams[stream]

    def is_healthy(self, stream: str) -> bool:
        """Whether ``stream`` is healthy now (see the module docstring for the rules)."""
        state = self._streams[stream]
        if state.down_reason is not None or state.error_count >= self.error_threshold:
            return False
        since = state.last_update or state.started_at
        return self.scheduler.now - since < self.stale_after

    def check(self) -> dict[str, bool]:
        """Health of every stream by name."""
        return {name: self.is_healthy(name) for name in self._streams}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every stream's health in the status-route shape (times as ISO-8601 UTC)."""
        return {
            name: {
                "last_update": _iso(state.last_update),
                "error_count": state.error_count,
                "recovery_attempts": state.recovery_attempts,
                "is_healthy": self.is_healthy(name),
                "started_at": _iso(state.started_at),
                "total_updates": state.total_updates,
                "total_errors": state.total_errors,
                "last_error": state.last_error,
                "last_error_at": _iso(state.last_error_at),
            }
            for name, state in self._streams.items()
        }
