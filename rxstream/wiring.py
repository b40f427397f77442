"""The one place the system is put together: bus, feeds and engine from :class:`~rxstream.settings.Settings`.

::

    Settings ──▶ wiring ──▶ feeds (replay or IBKR) ──▶ Engine (pipelines folder, pipeline settings, bus)
                    │                                                                   │
                    └──────────────────────▶ EngineBackend ◀────────────────────────────┘
                                                  │ (a rxstream.backend.Backend)
                                                  ▼
                                     rxstream.gateway.create_app

The gateway only sees the :class:`~rxstream.backend.Backend`; programs that
need a feed itself (``rxstream demo`` hands the IBKR feed to a trader) get it
through a typed attribute of :class:`EngineBackend`, never by name.

The pipelines folder is the ``pipelines`` setting when given, else the
pipelines bundled with rxstream, whatever the working directory holds.

>>> backend = engine_backend(Settings(replay_speed=60))
>>> [feed.name for feed in backend.feeds], backend.ibkr is None
(['replay'], True)
>>> backend.pipeline_settings["price_update_interval"]
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from reactivex.abc import SchedulerBase

from .backend import STATUS_PIPELINE_SETTINGS
from .bus import Bus
from .engine import Engine
from .errors import ConfigError
from .feed import Feed
from .health import HealthMonitor
from .pipelines import builtin_pipelines_dir, parse_settings
from .replay import ReplayFeed
from .settings import Settings

if TYPE_CHECKING:
    from .ibkr.source import IBKRFeed

__all__ = ["EngineBackend", "engine_backend", "ibkr_feed", "pipeline_settings", "pipelines_folder", "replay_feed"]


def pipelines_folder(settings: Settings) -> Path:
    """The folder the engine loads: ``settings.pipelines``, else the bundled pipelines (never the cwd's)."""
    if settings.pipelines is None:
        return builtin_pipelines_dir()
    folder = Path(settings.pipelines).expanduser()
    if not folder.is_dir():
        raise ConfigError("pipelines", f"no such folder: {settings.pipelines}")
    return folder


def pipeline_settings(settings: Settings) -> dict[str, Any]:
    """What the pipelines read with ``ctx.setting``: the status defaults, ``symbols``, then ``pipeline_settings``."""
    return {
        **STATUS_PIPELINE_SETTINGS,
        "symbols": list(settings.symbols),
        **parse_settings(settings.pipeline_settings, origin="pipeline_settings"),
    }


def replay_feed(settings: Settings) -> ReplayFeed:
    """The replay of ``replay_file`` (default: the bundled session) at ``replay_speed``."""
    if settings.replay_file is not None and not Path(settings.replay_file).is_file():
        raise ConfigError("replay_file", f"no such file: {settings.replay_file}")
    return ReplayFeed(settings.replay_file, speed=settings.replay_speed, loop=settings.replay_loop)


def ibkr_feed(settings: Settings) -> IBKRFeed:
    """The IBKR feed for ``settings.ibkr`` (which must be set)."""
    address = settings.ibkr_address()
    if address is None:
        raise ConfigError("ibkr", "no broker address given (HOST:PORT)")
    try:
        from .ibkr.config import IBKRConfig
        from .ibkr.source import IBKRFeed
    except ImportError as exc:
        raise ConfigError("ibkr", f"the IBKR feed is not available in this installation: {exc}") from None
    host, port = address
    config = IBKRConfig(host=host, port=port, client_id=settings.ibkr_client_id, symbols=tuple(settings.symbols))
    return IBKRFeed(config)


class EngineBackend:
    """The :class:`~rxstream.backend.Backend` of a process that runs the engine.

    Attributes:
        engine: The engine (pipelines, sources, bus, health).
        ibkr: The IBKR feed when the engine streams from a broker, else None.
        replay: The replay feed when it streams a tick file, else None.
        pipeline_settings: What the pipelines read with ``ctx.setting``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        pipeline_settings: Mapping[str, Any],
        ibkr: IBKRFeed | None = None,
        replay: ReplayFeed | None = None,
    ) -> None:
        self.engine = engine
        self.ibkr = ibkr
        self.replay = replay
        self.pipeline_settings = pipeline_settings

    @property
    def bus(self) -> Bus:
        """The engine's bus."""
        return self.engine.bus

    @property
    def health(self) -> HealthMonitor | None:
        """The engine's health monitor (set once started)."""
        return self.engine.health

    @property
    def scheduler(self) -> SchedulerBase | None:
        """The engine's clock (set once started)."""
        return self.engine.scheduler

    @property
    def feeds(self) -> list[Feed]:
        """The feeds the engine starts, in order."""
        return list(self.engine.feeds)

    def add_feed(self, feed: Feed) -> None:
        """Start ``feed`` with the others (before the backend is entered)."""
        if self.engine.running:
            raise ConfigError("feeds", f"add {feed.name!r} before the engine starts")
        self.engine.feeds.append(feed)

    async def __aenter__(self) -> EngineBackend:
        await self.engine.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.engine.__aexit__(exc_type, exc, tb)


def engine_backend(
    settings: Settings, *, bus: Bus | None = None, health: HealthMonitor | None = None
) -> EngineBackend:
    """The engine ``rxstream serve`` runs: the pipelines over a looped replay, or over IBKR with ``ibkr`` set.

    ``bus`` defaults to a new in-memory bus, ``health`` to a monitor the engine makes on start.
    """
    ibkr: IBKRFeed | None = None
    replay: ReplayFeed | None = None
    feeds: list[Feed]
    if settings.ibkr is not None:
        feeds = [ibkr := ibkr_feed(settings)]
    else:
        feeds = [replay := replay_feed(settings)]
    values = pipeline_settings(settings)
    engine = Engine(
        pipelines_dir=pipelines_folder(settings),
        settings=values,
        feeds=feeds,
        bus=bus,
        health=health,
        error_threshold=settings.error_threshold,
        stale_after=settings.stale_after,
        stale_overrides=settings.stale_overrides(),
        history=settings.history_size,
        health_interval=settings.health_interval,
    )
    return EngineBackend(engine, pipeline_settings=values, ibkr=ibkr, replay=replay)
