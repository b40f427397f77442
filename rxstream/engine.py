"""The engine: owns the sources, the pipelines, the health monitor, the bus and the scheduler.

::

    feeds (replay, IBKR, callbacks) ──▶ sources (Hub per name) ──▶ pipelines ──▶ outputs ──▶ bus topics
                                              ▲                                   │
                                              └──────── feeds=… (an evaluator) ◀──┘

Live, on the asyncio loop::

    async with Engine(feeds=[ReplayFeed(speed=60, loop=True)]) as engine:
        engine.bus.subscribe(print)
        ...

In virtual time (a replay, a test), with a scheduler you drive::

    engine = Engine(pipelines=[...], scheduler=ReplayScheduler())
    engine.start()
    replay_virtual(read_events(path), engine)
    engine.stop()

Each pipeline runs behind a health tap and a retry with backoff, so one
stream's failure never stops another; ``stop()`` disposes every subscription
and unregisters every callback. Engines share nothing: two in one process are
independent (pipeline modules are even imported separately).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from reactivex import Observable, abc
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .bridge import from_callbacks
from .bus import Bus, InMemoryBus, TopicSpec
from .errors import ArgumentError, ArgumentTypeError, StreamError, UsageError
from .feed import Feed, FeedContext
from .health import HealthMonitor
from .hub import Hub
from .operators import Backoff, retry_with_backoff
from .pipelines import Pipeline, PipelineContext, load_pipelines

__all__ = ["HEALTH_TOPIC", "STANDARD_SOURCES", "Engine"]

log = logging.getLogger(__name__)

STANDARD_SOURCES = ("ticks", "positions", "fills", "signals")
"""The sources every engine has: what the replay and the IBKR adapter push into."""

HEALTH_TOPIC = "stream_health"
"""The engine's own state topic: one message per stream whose health changed, keyed by stream."""


def _stream_of(entry: dict[str, Any]) -> str:
    return entry["stream"]  # type: ignore[no-any-return]


class Engine:
    """Runs pipelines over named sources and publishes their outputs on a bus.

    Attributes:
        pipelines: The pipelines by name.
        sources: A :class:`~rxstream.hub.Hub` per source name.
        outputs: A hub per pipeline carrying its output (what the bus publishes).
        bus: Where outputs are published as topics.
        health: Health per pipeline (and per feed stream); exists once started.
        scheduler: The clock of every time-based operator; the running loop's unless given.
        loop: The asyncio loop, when started with ``async with``.

    ``publish=False`` leaves the bus out (offline replays read ``outputs``
    directly); ``history`` is how many messages the bus keeps per topic for
    clients that resume. Every ``health_interval`` seconds (0: never) the
    health of each stream that changed is published on the ``stream_health``
    topic, so dashboards get it pushed; by default every second on the live
    loop, and never on a scheduler you pass (a replay's virtual clock may jump
    years at its first event, and a periodic timer would run for each second of
    the jump).
    """

    def __init__(
        self,
        *,
        pipelines: Sequence[Pipeline] | None = None,
        pipelines_dir: str | Path | None = None,
        settings: Mapping[str, Any] | None = None,
        feeds: Sequence[Feed] = (),
        scheduler: abc.SchedulerBase | None = None,
        bus: Bus | None = None,
        health: HealthMonitor | None = None,
        backoff: Backoff | None = None,
        error_threshold: int = 10,
        stale_after: float = 300.0,
        stale_overrides: Mapping[str, float | None] | None = None,
        history: int = 1000,
        publish: bool = True,
        health_interval: float | None = None,
    ) -> None:
        chosen = list(pipelines) if pipelines is not None else load_pipelines(pipelines_dir)
        self.pipelines: dict[str, Pipeline] = {}
        for pipeline in chosen:
            if pipeline.name in self.pipelines:
                raise ArgumentError("Engine", f"two pipelines are named {pipeline.name!r}")
            self.pipelines[pipeline.name] = pipeline
        self.settings: Mapping[str, Any] = dict(settings or {})
        self.feeds = list(feeds)
        self.scheduler = scheduler
        self.bus: Bus = bus if bus is not None else InMemoryBus()
        self.health = health
        self.backoff = backoff or Backoff()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._error_threshold = error_threshold
        self._stale_after = stale_after
        self._stale_overrides = dict(stale_overrides or {})  # per stream, over what the pipeline declares
        self._history = history
        self._publish = publish
        self._health_interval = health_interval
        self._health_sent: dict[str, dict[str, Any]] = {}
        if HEALTH_TOPIC in self.pipelines:
            raise ArgumentError("Engine", f"{HEALTH_TOPIC!r} is the engine's own topic; name the pipeline otherwise")
        self.sources: dict[str, Hub[Any]] = {name: Hub(name) for name in STANDARD_SOURCES}
        for pipeline in self.pipelines.values():
            for name in (*pipeline.sources, *([pipeline.feeds] if pipeline.feeds else [])):
                self.sources.setdefault(name, Hub(name))
        self.outputs: dict[str, Hub[Any]] = {name: Hub(name) for name in self.pipelines}
        self._subscriptions: list[abc.DisposableBase] = []
        self._started_feeds: list[Feed] = []
        self._owns_scheduler = False
        self.running = False

    def __repr__(self) -> str:
        return f"Engine(pipelines={list(self.pipelines)}, running={self.running})"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe every pipeline (synchronous; feeds are started by ``async with``)."""
        if self.running:
            raise UsageError("engine", "already started")
        live = self.scheduler is None or self._owns_scheduler
        if live:  # our own clock: the running loop's (again, on a restart)
            self.loop = asyncio.get_running_loop()
            self.scheduler = AsyncIOScheduler(self.loop)
            self._owns_scheduler = True
        scheduler = self.scheduler
        assert scheduler is not None
        if self.health is None:
            self.health = HealthMonitor(
                scheduler,
                error_threshold=self._error_threshold,
                stale_after=self._stale_after,
                overrides=self._stale_overrides,
            )
        self.health.scheduler = scheduler
        self.running = True
        for pipeline in self.pipelines.values():
            self._start_pipeline(pipeline)
        interval = self._health_interval if self._health_interval is not None else (1.0 if live else 0.0)
        if self._publish and interval > 0:
            self._start_health_topic(interval)

    def stop(self) -> None:
        """Dispose every subscription and bridge; the engine can be started again."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in reversed(subscriptions):
            subscription.dispose()
        self.running = False

    async def __aenter__(self) -> Engine:
        self.loop = asyncio.get_running_loop()
        self.start()
        context = self.feed_context()
        for feed in self.feeds:
            try:
                await feed.start(context)
            except Exception as error:
                log.exception("feed %s failed to start", feed.name)
                self.health.mark_down(feed.name, f"failed to start: {error}")  # type: ignore[union-attr]
            else:
                self._started_feeds.append(feed)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        feeds, self._started_feeds = self._started_feeds, []
        for feed in reversed(feeds):
            try:
                await feed.stop()
            except Exception:
                log.exception("feed %s failed to stop cleanly", feed.name)
        self.stop()

    # --- wiring ---------------------------------------------------------------------

    def feed_context(self) -> FeedContext:
        """What a feed may use of this started engine: hubs, health, clock and loop."""
        if not self.running or self.health is None or self.scheduler is None:
            raise UsageError("engine", "start it before handing its context to a feed")
        return FeedContext(self.sources, self.outputs, self.health, self.scheduler, self.loop)

    def bridge(
        self,
        source: str,
        register: Callable[[Callable[..., None]], Any],
        unregister: Callable[[Callable[..., None]], Any],
        *,
        transform: Callable[..., Any] | None = None,
    ) -> abc.DisposableBase:
        """Feed a callback-registration API into source ``source``; unregistered on ``stop()``.

        Callbacks may fire from any thread once the engine runs on a loop.
        """
        if not self.running:
            raise UsageError("engine", "start it before bridging callbacks into it")
        hub = self.sources.setdefault(source, Hub(source))
        observable: Observable[Any] = from_callbacks(register, unregister, loop=self.loop, transform=transform)
        subscription = observable.subscribe(hub.on_next)
        self._subscriptions.append(subscription)
        return subscription

    def _start_health_topic(self, interval: float) -> None:
        """Publish each stream's health on the ``stream_health`` topic when it changes."""
        self.bus.declare(TopicSpec(HEALTH_TOPIC, "state", _stream_of, history=self._history))
        self._health_sent = {}
        self._publish_health()
        clock = cast(abc.PeriodicSchedulerBase, self.scheduler)  # every reactivex scheduler here is periodic
        timer = clock.schedule_periodic(interval, lambda _: self._publish_health())
        self._subscriptions.append(timer)

    def _publish_health(self) -> None:
        assert self.health is not None
        for name, entry in self.health.snapshot().items():
            if self._health_sent.get(name) != entry:
                self._health_sent[name] = entry
                self.bus.publish(HEALTH_TOPIC, {"stream": name, **entry})

    def _start_pipeline(self, pipeline: Pipeline) -> None:
        assert self.health is not None and self.scheduler is not None
        name = pipeline.name
        self.health.register(name, stale_after=pipeline.stale_after)
        output = self.outputs[name]
        if pipeline.publish and self._publish:
            assert pipeline.topic is not None
            self.bus.declare(
                TopicSpec(pipeline.topic, pipeline.policy, pipeline.key, history=self._history)
            )
            topic = pipeline.topic
            publish = self.bus.publish
            self._subscriptions.append(output.subscribe(lambda value: publish(topic, value)))
        if pipeline.feeds:
            self._subscriptions.append(output.subscribe(self.sources[pipeline.feeds].on_next))

        context = PipelineContext(pipeline, self.scheduler, self.health, self.settings, self.sources)
        try:
            stream = pipeline.build(context)
            if not isinstance(stream, Observable):
                raise ArgumentTypeError("build()", f"returned {type(stream).__name__}, not an Observable")
        except Exception as error:
            where = f" ({pipeline.origin})" if pipeline.origin else ""
            log.exception("pipeline %s%s failed to build", name, where)
            self.health.mark_down(name, f"failed to build: {type(error).__name__}: {error}")
            return
        guarded = stream.pipe(  # the health tap and the retry in one stage: one call per value
            retry_with_backoff(self.backoff, health=self.health, stream=name, scheduler=self.scheduler, record=True),
        )

        def gave_up(error: Exception) -> None:
            self.health.mark_down(name, str(StreamError(name, f"gave up: {error}")))  # type: ignore[union-attr]

        def completed() -> None:
            log.info("pipeline %s completed", name)

        subscription = guarded.subscribe(output.on_next, gave_up, completed, scheduler=self.scheduler)
        self._subscriptions.append(subscription)
