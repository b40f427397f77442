"""Per-stream health: updates, consecutive errors, recovery attempts and staleness.

A stream is *unhealthy* when any of these holds:

* ``error_threshold`` (default 10) consecutive errors were recorded; a successful
  update resets the count;
* nothing was recorded as an update for its staleness (default 300 s), counted
  from the last update or, before the first one, from registration;
* it was marked down (a broker disconnect, for example) and not yet marked up.

Staleness is per stream. A stream that should tick (prices) takes the monitor's
``stale_after``; a stream may declare its own when it is registered, or
``None``: an event stream that may be quiet for hours (fills, signals) is never
stale, only erroring or down. ``overrides`` (a setting, by stream name) win over
both::

    HealthMonitor(scheduler, stale_after=300, overrides={"signals": 3600})
    health.register("trade_executions", stale_after=None)

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
>>> health.register("fills", stale_after=None)
>>> scheduler.advance_by(timedelta(days=1))
>>> health.is_healthy("fills")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias

from reactivex.abc import SchedulerBase

from .errors import ConfigError, UnknownNameError

__all__ = ["HealthMonitor", "Staleness", "StreamHealth"]

Staleness: TypeAlias = float | timedelta | Literal["default"] | None
"""How long a stream may go without an update: seconds, ``None`` (never stale), or
``"default"`` (the monitor's ``stale_after``)."""


def _span(value: float | timedelta, setting: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        raise ConfigError(setting, f"expected seconds or None, got {value!r}")
    if not isinstance(value, timedelta) and value != value:  # NaN
        raise ConfigError(setting, f"must be a number of seconds, got {value}")
    try:
        span = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except OverflowError:
        limit = timedelta.max.total_seconds()
        raise ConfigError(setting, f"must be at most {limit:.0f} seconds, got {value}") from None
    if not span > timedelta(0):
        raise ConfigError(setting, f"must be positive, got {value}")
    return span


def _staleness(value: Staleness, setting: str) -> timedelta | Literal["default"] | None:
    """Validate a staleness: a positive span, ``None`` or ``"default"``."""
    if value is None or value == "default":
        return value
    return _span(value, setting)


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
    stale_after: timedelta | None = None
    """None: never stale (an event stream that may be quiet)."""
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
        overrides: Mapping[str, float | timedelta | None] | None = None,
    ) -> None:
        if isinstance(error_threshold, bool) or not isinstance(error_threshold, int) or error_threshold < 1:
            raise ConfigError("error_threshold", f"must be an integer of at least 1, got {error_threshold!r}")
        self.scheduler = scheduler
        self.error_threshold = error_threshold
        self.stale_after = _span(stale_after, "stale_after")
        self.overrides: dict[str, timedelta | None] = {}
        for name, value in (overrides or {}).items():
            chosen = _staleness(value, f"stale_after for {name}")
            self.overrides[name] = self.stale_after if chosen == "default" else chosen
        self._streams: dict[str, StreamHealth] = {}

    # --- recording ------------------------------------------------------------------

    def register(self, stream: str, *, stale_after: Staleness = "default") -> None:
        """Start tracking ``stream``, stale after ``stale_after`` seconds without an update
        (``None``: never; ``"default"``: the monitor's). An override for ``stream`` wins.
        Registering again keeps what was recorded, and the staleness unless one is given."""
        chosen = _staleness(stale_after, f"stale_after for {stream}")
        state = self._get(stream)
        if chosen != "default" and stream not in self.overrides:
            state.stale_after = chosen

    def _get(self, stream: str) -> StreamHealth:
        state = self._streams.get(stream)
        if state is None:
            stale = self.overrides.get(stream, self.stale_after)
            state = self._streams[stream] = StreamHealth(stream, self.scheduler.now, stale_after=stale)
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
        """The record of ``stream``; raises :class:`~rxstream.errors.UnknownNameError` if it was never registered."""
        state = self._streams.get(stream)
        if state is None:
            raise UnknownNameError("stream", stream, "it was never registered with the health monitor")
        return state

    def is_healthy(self, stream: str) -> bool:
        """Whether ``stream`` is healthy now (see the module docstring for the rules)."""
        state = self.get(stream)
        if state.down_reason is not None or state.error_count >= self.error_threshold:
            return False
        if state.stale_after is None:
            return True
        since = state.last_update or state.started_at
        return self.scheduler.now - since < state.stale_after

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
                "stale_after": state.stale_after.total_seconds() if state.stale_after is not None else None,
                "last_error_at": _iso(state.last_error_at),
            }
            for name, state in self._streams.items()
        }
