"""A health monitor that also reports how far behind a bus stream is, and the health other processes publish."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from reactivex.abc import SchedulerBase

from ..health import HealthMonitor

__all__ = ["LagHealth"]


class LagHealth(HealthMonitor):
    """A :class:`~rxstream.health.HealthMonitor` whose snapshot adds ``lag_seconds`` to the streams given a gauge.

    ``published`` returns the health other processes published (a gateway reads the ingest's
    pipelines from the ``stream_health`` topic); the snapshot shows it beside the streams
    tracked here, which win on a shared name.
    """

    def __init__(
        self,
        scheduler: SchedulerBase,
        *,
        lags: Mapping[str, Callable[[], float]] | None = None,
        published: Callable[[], dict[str, dict[str, Any]]] | None = None,
        error_threshold: int = 10,
        stale_after: float | timedelta = 300.0,
    ) -> None:
        super().__init__(scheduler, error_threshold=error_threshold, stale_after=stale_after)
        self.lags: dict[str, Callable[[], float]] = dict(lags or {})
        self._published = published

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every stream's health, with ``lag_seconds`` where a gauge is known."""
        snapshot = {**(self._published() if self._published is not None else {}), **super().snapshot()}
        for name, lag in self.lags.items():
            if name in snapshot:
                snapshot[name]["lag_seconds"] = lag()
        return snapshot
