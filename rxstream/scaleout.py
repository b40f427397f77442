"""The processes of a scaled-out deployment, wired on the Redis bus (see docs/deployment.md).

::

    rxstream ingest  ── Ingest: write lease ─▶ RedisPublisher ◀── engine (feeds, pipelines)
    rxstream gateway ── GatewayBackend: RedisReader ─▶ gateway (no feeds, no pipelines)
    rxstream serve --bus redis://…  ── ServeBackend: both in one process

Each is built from :class:`~rxstream.settings.Settings` like the in-memory
server (:mod:`rxstream.wiring`), and the gateway receives each as a plain
:class:`~rxstream.backend.Backend`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reactivex.abc import SchedulerBase
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .bus import Bus
from .engine import HEALTH_TOPIC
from .errors import ConfigError, LeaseHeld
from .health import HealthMonitor
from .settings import Settings
from .wiring import EngineBackend, engine_backend, pipeline_settings

if TYPE_CHECKING:
    from .redisbus import BusAddress, LagHealth, Lease, RedisPublisher, RedisReader

__all__ = ["GatewayBackend", "Ingest", "ServeBackend", "bus_address"]

log = logging.getLogger(__name__)


def bus_address(settings: Settings) -> BusAddress:
    """The ``bus`` setting parsed; a :class:`ConfigError` when unset or when redis-py is not installed."""
    if settings.bus is None:
        raise ConfigError("bus", "no bus given: use --bus redis://HOST:PORT/DB (or RXSTREAM_BUS)")
    try:
        from .redisbus import parse_bus_url
    except ImportError as exc:
        raise ConfigError("bus", f"the Redis bus needs: pip install 'rxstream[redis]' ({exc})") from None
    return parse_bus_url(settings.bus)


class Ingest:
    """The writing side: takes the lease (or waits for it as a standby), then runs the engine into Redis.

    Attributes:
        lost: Set when the lease was taken by another ingest (this one must stop).
        backend: The engine's backend once started.
    """

    def __init__(self, settings: Settings, *, stop: asyncio.Event | None = None, health: HealthMonitor | None = None):
        self.settings = settings
        self.address = bus_address(settings)
        self.lost = asyncio.Event()
        self.backend: EngineBackend | None = None
        self.publisher: RedisPublisher | None = None
        self._stop = stop
        self._health = health
        self._lease: Lease | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._client: Any = None

    async def __aenter__(self) -> Ingest:
        from .redisbus import PUBLISH_STREAM, Layout, Lease, RedisPublisher, connect

        settings = self.settings
        self._client = connect(self.address)
        layout = Layout(self.address.prefix)
        try:
            lease = self._lease = Lease(self._client, layout.lease, ttl=settings.lease_seconds)
            if not await lease.acquire():
                holder = await lease.holder()
                owner, expires_in = (holder.owner, holder.expires_in) if holder else ("?", 0.0)
                if not settings.standby:
                    raise LeaseHeld(str(self.address), owner, expires_in)
                log.info("standby: %s holds the lease on %s; waiting", owner, self.address)
                if not await lease.wait(self._stop):
                    return self  # stopped while waiting: nothing started
                log.info("standby: lease taken over; continuing the numbering")
            publisher = self.publisher = RedisPublisher(
                self._client, layout=layout, history_size=settings.history_size,
                history_seconds=settings.history_seconds, buffer_limit=settings.bus_buffer,
            )
            await publisher.open()
            self._keeper = asyncio.get_running_loop().create_task(self._keep_lease(), name="rxstream-lease")
            self.backend = engine_backend(settings, bus=publisher, health=self._health)
            await self.backend.__aenter__()
        except BaseException:
            await self._release()
            raise
        assert self.backend.health is not None  # the engine made one on start
        publisher.health = self.backend.health
        self.backend.health.register(PUBLISH_STREAM)
        log.info("ingest writing to %s, epoch %s", self.address, publisher.epoch)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.backend is not None:
            await self.backend.__aexit__(None, None, None)
        await self._release()

    async def _release(self) -> None:
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.close()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self._lease is not None and not self.lost.is_set():
            with contextlib.suppress(Exception):
                await self._lease.release()
        if self._client is not None:
            await self._client.aclose()

    async def _keep_lease(self) -> None:
        from .redisbus.cancellation import raise_if_cancelled

        assert self._lease is not None
        lease = self._lease
        while True:
            raise_if_cancelled()  # stopped while a renewal finished: its CancelledError was lost (see there)
            await asyncio.sleep(lease.ttl / 3)
            try:
                if not await lease.renew():
                    log.error("ingest: another ingest took the lease on %s; stopping", self.address)
                    self.lost.set()
                    return
            except Exception as error:  # Redis away: keep trying; the lease lapses only after ttl
                log.warning("ingest: cannot renew the lease (%s)", error)


class GatewayBackend:
    """The :class:`~rxstream.backend.Backend` of ``rxstream gateway``: the bus read from Redis, no engine."""

    def __init__(self, settings: Settings) -> None:
        from .redisbus import Layout, RedisReader, connect

        self.address = bus_address(settings)
        self._client = connect(self.address)
        self.reader: RedisReader = RedisReader(
            self._client, layout=Layout(self.address.prefix),
            history_size=settings.history_size, history_seconds=settings.history_seconds,
        )
        self.pipeline_settings: Mapping[str, Any] = pipeline_settings(settings)
        self._settings = settings
        self._health: LagHealth | None = None
        self._scheduler: SchedulerBase | None = None

    @property
    def bus(self) -> Bus:
        """The reader's copy of the bus."""
        return self.reader

    @property
    def health(self) -> HealthMonitor | None:
        """The ``bus`` stream's health (with its lag)."""
        return self._health

    @property
    def scheduler(self) -> SchedulerBase | None:
        """The running loop's clock, once started."""
        return self._scheduler

    async def __aenter__(self) -> GatewayBackend:
        from .redisbus import BUS_STREAM, LagHealth

        self._scheduler = AsyncIOScheduler(asyncio.get_running_loop())
        self._health = LagHealth(
            self._scheduler, lags={BUS_STREAM: self.reader.lag}, published=self._published_health,
            error_threshold=self._settings.error_threshold, stale_after=self._settings.stale_after,
        )
        self._health.register(BUS_STREAM)
        self.reader.health = self._health
        await self.reader.open()
        log.info("gateway reading %s, epoch %s, topics %s", self.address, self.reader.epoch or "-",
                 ", ".join(self.reader.topics) or "none yet")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.reader.close()
        await self._client.aclose()

    def _published_health(self) -> dict[str, dict[str, Any]]:
        """The ingest's streams, as last published on the ``stream_health`` topic."""
        out: dict[str, dict[str, Any]] = {}
        for message in self.reader.snapshot(HEALTH_TOPIC) if HEALTH_TOPIC in self.reader.topics else ():
            entry = dict(message.data)
            out[str(entry.pop("stream"))] = entry
        return out


class ServeBackend:
    """``rxstream serve --bus redis://…``: the ingest and a gateway in one process, through Redis."""

    def __init__(self, settings: Settings) -> None:
        self.gateway = GatewayBackend(settings)
        self._settings = settings
        self.ingest: Ingest | None = None
        self.pipeline_settings: Mapping[str, Any] = self.gateway.pipeline_settings

    @property
    def bus(self) -> Bus:
        """The bus as read back from Redis, numbered by the ingest."""
        return self.gateway.reader

    @property
    def health(self) -> HealthMonitor | None:
        """The pipelines', the writes' and the reads' health together."""
        return self.gateway.health

    @property
    def scheduler(self) -> SchedulerBase | None:
        """The engine's clock."""
        return self.gateway.scheduler

    async def __aenter__(self) -> ServeBackend:
        await self.gateway.__aenter__()
        self.ingest = Ingest(self._settings, health=self.gateway.health)
        try:
            await self.ingest.__aenter__()
        except BaseException:
            await self.gateway.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.ingest is not None:
            await self.ingest.__aexit__()
        await self.gateway.__aexit__()
