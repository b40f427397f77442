"""The IBKR feed's three health streams: ``<prefix>.ticks``, ``<prefix>.positions``, ``<prefix>.fills``.

:class:`FeedHealth` is the one place that writes them into the engine's
:class:`~rxstream.health.HealthMonitor`: the connection supervisor, the error
policy, market data and the fill gate each report what they saw through it.

Positions and fills are quiet for hours on a live account, so while the link
is proven alive (a connect, a heartbeat answered) they count an update
(quiet is not stale); ticks count an update per batch.
"""

from __future__ import annotations

from ..health import HealthMonitor

__all__ = ["FeedHealth"]


class FeedHealth:
    """Writes the feed's streams into a health monitor.

    >>> from reactivex.scheduler import HistoricalScheduler
    >>> monitor = HealthMonitor(HistoricalScheduler())
    >>> health = FeedHealth(monitor, "ibkr")
    >>> health.show(down="not connected to 127.0.0.1:7497")
    >>> monitor.check()
    {'ibkr.ticks': False, 'ibkr.positions': False, 'ibkr.fills': False}
    >>> health.show(ticks_down="2103: market data farm disconnected")
    >>> monitor.check()
    {'ibkr.ticks': False, 'ibkr.positions': True, 'ibkr.fills': True}
    """

    def __init__(self, monitor: HealthMonitor, prefix: str) -> None:
        self.monitor = monitor
        self.ticks = f"{prefix}.ticks"
        self.positions = f"{prefix}.positions"
        self.fills = f"{prefix}.fills"
        self.names = (self.ticks, self.positions, self.fills)
        for name in self.names:
            monitor.register(name)

    def show(self, down: str | None = None, ticks_down: str | None = None) -> None:
        """Mark every stream down for ``down``, or up; ticks alone down for ``ticks_down``."""
        monitor = self.monitor
        for name, why in zip(self.names, (down or ticks_down, down, down), strict=True):
            if why is None:
                monitor.mark_up(name)
            else:
                monitor.mark_down(name, why)

    def error(self, error: str) -> None:
        """One more error on every stream (a failed connect attempt)."""
        for name in self.names:
            self.monitor.record_error(name, error)

    def ticks_error(self, error: str) -> None:
        """One more error on the ticks stream alone (a contract TWS does not know, a refused request)."""
        self.monitor.record_error(self.ticks, error)

    def ticks_updated(self) -> None:
        """A batch of ticks went out."""
        self.monitor.record_update(self.ticks)

    def ticks_resubscribed(self) -> None:
        """Market data was requested again: a recovery attempt of the ticks stream."""
        self.monitor.record_recovery_attempt(self.ticks)

    def positions_updated(self) -> None:
        """A position update went out."""
        self.monitor.record_update(self.positions)

    def fills_updated(self) -> None:
        """A fill went out."""
        self.monitor.record_update(self.fills)

    def recovery_attempt(self) -> None:
        """Every stream is being reconnected."""
        for name in self.names:
            self.monitor.record_recovery_attempt(name)

    def link_alive(self) -> None:
        """The link answered: the quiet streams (positions, fills) are live, not stale."""
        self.monitor.record_update(self.positions)
        self.monitor.record_update(self.fills)
