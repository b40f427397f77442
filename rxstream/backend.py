"""What a gateway serves from: the :class:`Backend` type, shared by the wiring and the gateway.

It lives below both so that :mod:`rxstream.wiring` (which builds engines and
feeds) and :mod:`rxstream.gateway` (which serves a bus) depend on it and never
on each other::

    rxstream.wiring ──▶ rxstream.backend ◀── rxstream.gateway
          │                                        (no engine, replay, ibkr)
          └──▶ engine, replay, ibkr, buses

>>> from rxstream.bus import InMemoryBus
>>> backend = StaticBackend(InMemoryBus())
>>> backend.pipeline_settings["price_update_interval"]
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from reactivex.abc import SchedulerBase

from .bus import Bus
from .health import HealthMonitor

__all__ = ["STATUS_PIPELINE_SETTINGS", "Backend", "StaticBackend"]

STATUS_PIPELINE_SETTINGS: Mapping[str, float] = MappingProxyType(
    {"price_update_interval": 3.0, "portfolio_update_interval": 5.0}
)
"""The pipeline settings the status route reports, with the status contract's defaults.

They are ordinary pipeline settings (read by ``price_updates`` and
``portfolio_updates`` through ``ctx.setting``); a backend starts from these
defaults so the status document and the pipelines agree.
"""


class Backend(Protocol):
    """What the gateway needs: a bus, a health monitor, a clock, the pipeline settings, a lifetime."""

    @property
    def bus(self) -> Bus:
        """Where the messages the gateway serves come from."""

    @property
    def health(self) -> HealthMonitor | None:
        """Per-stream health for the status route and ``/metrics`` (None: nothing to report)."""

    @property
    def scheduler(self) -> SchedulerBase | None:
        """The clock of ``max_rate`` (None: the running loop's)."""

    @property
    def pipeline_settings(self) -> Mapping[str, Any]:
        """The settings the pipelines read (``ctx.setting``), reported in part by the status route."""

    async def __aenter__(self) -> Any:
        """Start the streams."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        """Stop the streams and unregister every callback."""


class StaticBackend:
    """A backend around a bus you publish into yourself (tests, embedding, a custom engine)."""

    def __init__(
        self,
        bus: Bus,
        health: HealthMonitor | None = None,
        scheduler: SchedulerBase | None = None,
        pipeline_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.health = health
        self.scheduler = scheduler
        self.pipeline_settings: Mapping[str, Any] = {**STATUS_PIPELINE_SETTINGS, **(pipeline_settings or {})}
        self.running = False

    async def __aenter__(self) -> StaticBackend:
        self.running = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.running = False
