"""Replay recorded events: in virtual time as fast as the CPU allows, or paced like live.

**Virtual time** (:func:`replay_virtual`): the events' own timestamps drive a
:class:`ReplayScheduler`, so every time-based operator downstream (conflation
windows, backoff delays, staleness) behaves exactly as it would live, and the
run is deterministic. The clock is advanced lazily: an event costs one
comparison with the next due timer, and the scheduler only runs when a timer
is actually due.

**Paced** (:class:`ReplayFeed`): a :class:`~rxstream.engine.Feed` that emits
the file on the engine's scheduler at ``speed`` × recorded pace (1 = as
recorded, 60 = a minute per second), optionally looping the session forever.
Events are stamped with the time they are emitted (``stamp="wall"``, the
default, so a dashboard sees a live market) or keep their recorded times,
shifted by the session length on each loop (``stamp="recorded"``).

**Timestamps that go backwards** (real files have them after a clock fix or a
merge): ``on_backwards="clamp"`` (default) emits the event at the current
clock, unchanged, and counts it; ``"drop"`` skips and counts it; ``"error"``
stops with :class:`~rxstream.errors.StreamError`. Paced replay always clamps
(an overdue event is emitted at once).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reactivex import abc

from .errors import ArgumentError, ArgumentTypeError, StreamError
from .events import Event
from .hub import Hub
from .tickfile import ReadStats, bundled_session, read_events
from .virtualtime import ReplayScheduler

if TYPE_CHECKING:
    from .engine import Engine
    from .feed import FeedContext

__all__ = ["SOURCE_OF", "ReplayFeed", "ReplayScheduler", "ReplayStats", "replay_virtual"]

log = logging.getLogger(__name__)

SOURCE_OF: dict[str, str] = {"tick": "ticks", "position": "positions", "fill": "fills", "signal": "signals"}
"""The engine source each event type is pushed into."""

BackwardsPolicy = Literal["clamp", "drop", "error"]


@dataclass
class ReplayStats:
    """What a replay did."""

    events: int = 0
    backwards: int = 0
    """Events older than the clock (clamped, dropped or refused by the policy)."""
    dropped: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    first_backwards: str | None = None
    """Where the first backwards event was: ``FILE:LINE`` when the events came from a file."""

    def backwards_summary(self) -> str:
        """One line for a terminal, e.g. ``3 events went back in time (clamped); first at FILE:LINE``."""
        what = "dropped" if self.dropped else "clamped"
        plural = "s" if self.backwards != 1 else ""
        return f"{self.backwards} event{plural} went back in time ({what}); first at {self.first_backwards}"


def _pushers(sources: Mapping[str, Hub[Any]]) -> dict[str, Callable[[Any], None]]:
    """The hub each event type goes to, by ``Event.kind`` (types without a hub are dropped)."""
    return {kind: sources[name].on_next for kind, name in SOURCE_OF.items() if name in sources}


def _router(sources: Mapping[str, Hub[Any]]) -> Callable[[Event], None]:
    pushers = _pushers(sources)

    def route(event: Event) -> None:
        push = pushers.get(event.kind)
        if push is not None:
            push(event)

    return route


class _Routes:
    """The source hub of each event, by ``Event.kind``; looked up by the event's type once its kind is known."""

    def __init__(self, sources: Mapping[str, Hub[Any]]) -> None:
        self.hubs = {kind: sources[name] for kind, name in SOURCE_OF.items() if name in sources}
        self.nowhere: Hub[Any] = Hub("unrouted")  # kinds without a source: no subscribers, dropped
        self.by_type: dict[type, Hub[Any]] = {}
        """The hub of every event of a type whose ``kind`` is the type's own (an ``Event`` class attribute)."""

    def __call__(self, event: Event) -> Hub[Any]:
        """The hub of ``event``; remembers it for its type when every event of that type has the same kind."""
        kind = event.kind
        hub = self.hubs.get(kind, self.nowhere)
        cls = type(event)
        if getattr(cls, "kind", None) == kind and "kind" not in getattr(event, "__dict__", ()):
            self.by_type[cls] = hub
        return hub


def replay_virtual(
    events: Iterable[Event],
    target: Engine | Mapping[str, Hub[Any]],
    scheduler: ReplayScheduler | None = None,
    *,
    on_backwards: BackwardsPolicy = "clamp",
    complete: bool = True,
    file_stats: ReadStats | None = None,
) -> ReplayStats:
    """Push ``events`` into the engine's sources in virtual time; returns what happened.

    Args:
        events: Events in recorded order (e.g. :func:`~rxstream.tickfile.read_events`).
        target: An engine (its sources and scheduler are used) or a mapping of source hubs.
        scheduler: The virtual clock; defaults to the engine's, which must be a ReplayScheduler.
        on_backwards: What to do with an event older than the clock (see the module docstring).
        complete: Complete the sources at the end, so pipelines flush what they hold
            (conflation's pending last values) and finish.
        file_stats: The ``stats`` of the :func:`~rxstream.tickfile.read_events` that yields
            ``events`` (lazily, event by event), so backwards events are located as ``FILE:LINE``.
    """
    sources: Mapping[str, Hub[Any]] = target if isinstance(target, Mapping) else target.sources
    if scheduler is None:
        scheduler = getattr(target, "scheduler", None)
    if not isinstance(scheduler, ReplayScheduler):
        raise ArgumentTypeError("replay_virtual", "needs a ReplayScheduler (pass one, or give it to the engine)")
    stats = ReplayStats()
    route = _Routes(sources)
    routes = route.by_type
    advance = scheduler.advance_clock

    def went_back(count: int, time: datetime, clock: datetime) -> bool:
        """Count an event older than the clock; True when the policy drops it (``"error"`` raises)."""
        where = file_stats.position if file_stats is not None else f"event {count}"
        stats.backwards += 1
        if stats.first_backwards is None:
            stats.first_backwards = where
        if on_backwards == "drop":
            stats.dropped += 1
            return True
        if on_backwards == "error":
            raise StreamError("replay", f"{where}: time went backwards: {time.isoformat()} after {clock.isoformat()}")
        return False

    iterator = iter(events)  # the hot loop below: two comparisons per event when no timer is due
    first = next(iterator, None)
    if first is not None:
        clock = stats.first_time = first.time
        count = 0
        for count, event in enumerate(itertools.chain((first,), iterator), 1):
            time = event.time
            if time < clock:
                if went_back(count, time, clock):
                    continue
            elif time < scheduler.next_due:
                scheduler.now = clock = time
            else:
                advance(time)
                clock = time
            try:
                hub = routes[type(event)]
            except KeyError:
                hub = route(event)
            sole = hub.sole
            if sole is None:
                hub.on_next(event)
            else:  # Hub.on_next, inlined: one call per event fewer
                try:
                    sole[1](event)
                except Exception as error:
                    hub.fail(sole[0], error)
        stats.events = count - stats.dropped
        stats.last_time = clock
    if complete:
        for hub in sources.values():
            hub.on_completed()
    return stats


class ReplayFeed:
    """A feed that plays a tick file on the engine's scheduler at ``speed`` × recorded pace."""

    name = "replay"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        speed: float = 1.0,
        loop: bool = False,
        stamp: Literal["wall", "recorded"] = "wall",
        skip_bad: bool = False,
        batch: int = 500,
    ) -> None:
        if speed <= 0:
            raise ArgumentError("ReplayFeed", f"replay speed must be positive, got {speed}")
        self.path = Path(path) if path is not None else bundled_session()
        self.speed = speed
        self.loop = loop
        self.stamp = stamp
        self.skip_bad = skip_bad
        self.batch = batch
        self.stats = ReadStats()
        self.emitted = 0
        self.loops = 0
        self._timer: abc.DisposableBase | None = None
        self._events: Iterator[Event] | None = None

    def __repr__(self) -> str:
        return f"ReplayFeed({str(self.path)!r}, speed={self.speed}, loop={self.loop})"

    async def start(self, ctx: FeedContext) -> None:
        """Begin playing into ``ctx.sources`` on ``ctx.scheduler``."""
        self._scheduler = ctx.scheduler
        self._health = ctx.health
        self._health.register(self.name)
        self._route = _router(ctx.sources)
        self._begin_session(offset=timedelta(0))

    async def stop(self) -> None:
        """Stop playing; nothing more is pushed."""
        if self._timer is not None:
            self._timer.dispose()
            self._timer = None
        self._events = None

    def _begin_session(self, offset: timedelta) -> None:
        self.stats = ReadStats()
        self._events = read_events(self.path, skip_bad=self.skip_bad, stats=self.stats)
        self._offset = offset
        self._session_start: datetime | None = None
        self._wall_start = self._scheduler.now
        self._pending: Event | None = None
        self._last_time: datetime | None = None
        self._schedule(0.0)

    def _schedule(self, delay: float) -> None:
        self._timer = self._scheduler.schedule_relative(max(0.0, delay), self._tick)

    def _tick(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        """Emit every event that is due, then sleep until the next one."""
        if self._events is None:
            return
        try:
            self._emit_due()
        except Exception as error:  # a bad file: the stream says so and the engine goes on
            log.error("replay of %s stopped: %s", self.path, error)
            self._health.mark_down(self.name, str(error))
            self._events = None

    def _emit_due(self) -> None:
        assert self._events is not None
        for _ in range(self.batch):
            event = self._pending or next(self._events, None)
            self._pending = None
            if event is None:
                return self._session_ended()
            if self._session_start is None:
                self._session_start = event.time
            recorded = max(event.time, self._last_time or event.time)  # clamp backwards times
            self._last_time = recorded
            due = (recorded - self._session_start).total_seconds() / self.speed
            wait = due - (self._scheduler.now - self._wall_start).total_seconds()
            if wait > 0.0005:
                self._pending = event
                return self._schedule(wait)
            if self.stamp == "wall":
                event = event._replace(time=self._scheduler.now)
            elif self._offset:
                event = event._replace(time=event.time + self._offset)
            self._route(event)
            self.emitted += 1
            self._health.record_update(self.name)
        self._schedule(0.0)  # a burst: let the loop breathe before the rest
        return None

    def _session_ended(self) -> None:
        if not self.stats.events:
            self._health.mark_down(self.name, f"{self.path}: no events to replay")
            self._events = None
            return
        if self.stats.skipped:
            log.warning("%s", self.stats.summary())
        if not self.loop:
            log.info("replay of %s finished: %s", self.path, self.stats.summary())
            self._events = None
            return
        self.loops += 1
        assert self._session_start is not None and self._last_time is not None
        length = self._last_time - self._session_start + timedelta(seconds=1)
        self._begin_session(self._offset + length)
