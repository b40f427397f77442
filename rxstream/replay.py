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

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from reactivex import abc, typing
from reactivex.internal import PriorityQueue
from reactivex.scheduler import HistoricalScheduler

from .errors import StreamError
from .events import Event
from .hub import Hub
from .tickfile import ReadStats, bundled_session, read_events

if TYPE_CHECKING:
    from .engine import Engine
    from .feed import FeedContext

__all__ = ["SOURCE_OF", "ReplayFeed", "ReplayScheduler", "ReplayStats", "replay_virtual"]

log = logging.getLogger(__name__)

SOURCE_OF: dict[str, str] = {"tick": "ticks", "position": "positions", "fill": "fills", "signal": "signals"}
"""The engine source each event type is pushed into."""

BackwardsPolicy = Literal["clamp", "drop", "error"]


class _Timer(abc.DisposableBase):
    """A scheduled action: a lighter ``ScheduledItem`` (no lock, no per-run allocations)."""

    __slots__ = ("action", "cancelled", "duetime", "result", "scheduler", "state")

    def __init__(self, scheduler: ReplayScheduler, state: Any, action: Any, duetime: datetime) -> None:
        self.scheduler = scheduler
        self.state = state
        self.action = action
        self.duetime = duetime
        self.cancelled = False
        self.result: Any = None

    def invoke(self) -> None:
        self.result = self.action(self.scheduler, self.state)

    def is_cancelled(self) -> bool:
        return self.cancelled

    def dispose(self) -> None:
        self.cancelled = True
        if isinstance(self.result, abc.DisposableBase):
            self.result.dispose()


class _TimerHeap(PriorityQueue[_Timer]):
    """The timer queue, keyed by ``(duetime, arrival)`` tuples that compare in C.

    reactivex's own queue orders items through a Python ``__lt__``: several
    times slower on a replay's hot path. Same interface, same order.
    """

    items: list[tuple[datetime, int, _Timer]]  # type: ignore[assignment]

    def peek(self) -> _Timer:
        return self.items[0][2]

    def dequeue(self) -> _Timer:
        item = heapq.heappop(self.items)[2]
        if not self.items:
            self.count = PriorityQueue.MIN_COUNT
        return item

    def enqueue(self, item: _Timer) -> None:
        heapq.heappush(self.items, (item.duetime, self.count, item))
        self.count += 1

    def remove(self, item: _Timer) -> bool:
        for index, entry in enumerate(self.items):
            if entry[2] is item:
                self.items.pop(index)
                heapq.heapify(self.items)
                return True
        return False


class ReplayScheduler(HistoricalScheduler):
    """A virtual-time scheduler whose clock a replay moves forward event by event.

    Its clock is a UTC datetime; use it from one thread (the replay's).
    """

    def __init__(self, initial_clock: datetime | None = None) -> None:
        super().__init__(initial_clock or datetime(1970, 1, 1, tzinfo=UTC))
        self._queue = _TimerHeap()  # type: ignore[assignment]

    def schedule_absolute(
        self, duetime: typing.AbsoluteTime, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        """Run ``action`` when the clock reaches ``duetime``; dispose the result to cancel."""
        timer = _Timer(self, state, action, duetime if type(duetime) is datetime else self.to_datetime(duetime))
        cast(_TimerHeap, self._queue).enqueue(timer)
        return timer

    @property
    def now(self) -> datetime:
        """The virtual time (the clock is always a UTC datetime here, so no conversion)."""
        return cast(datetime, self._clock)

    def advance_clock(self, time: datetime) -> None:
        """Move the clock to ``time``, running the timers due by then, each at its own time.

        One comparison when no timer is due. Unlike ``advance_to`` it takes no
        lock: a replay drives its scheduler from one thread.
        """
        queue = cast(_TimerHeap, self._queue)
        items = queue.items
        while items and items[0][0] <= time:
            item = queue.dequeue()
            if item.duetime > self.now:
                self._clock = item.duetime
            if not item.is_cancelled():
                item.invoke()
        if time > self.now:
            self._clock = time


@dataclass
class ReplayStats:
    """What a replay did."""

    events: int = 0
    backwards: int = 0
    dropped: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None


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


def replay_virtual(
    events: Iterable[Event],
    target: Engine | Mapping[str, Hub[Any]],
    scheduler: ReplayScheduler | None = None,
    *,
    on_backwards: BackwardsPolicy = "clamp",
    complete: bool = True,
) -> ReplayStats:
    """Push ``events`` into the engine's sources in virtual time; returns what happened.

    Args:
        events: Events in recorded order (e.g. :func:`~rxstream.tickfile.read_events`).
        target: An engine (its sources and scheduler are used) or a mapping of source hubs.
        scheduler: The virtual clock; defaults to the engine's, which must be a ReplayScheduler.
        on_backwards: What to do with an event older than the clock (see the module docstring).
        complete: Complete the sources at the end, so pipelines flush what they hold
            (conflation's pending last values) and finish.
    """
    sources: Mapping[str, Hub[Any]] = target if isinstance(target, Mapping) else target.sources
    if scheduler is None:
        scheduler = getattr(target, "scheduler", None)  # type: ignore[assignment]
    if not isinstance(scheduler, ReplayScheduler):
        raise TypeError("replay_virtual needs a ReplayScheduler (pass one, or give it to the engine)")
    stats = ReplayStats()
    pushers = _pushers(sources)
    due = cast(_TimerHeap, scheduler._queue).items  # the timer heap: peeked once per event, run when due
    advance = scheduler.advance_clock
    clock: datetime | None = None
    count = 0
    for event in events:  # the hot loop: one comparison per event when no timer is due
        time = event.time
        if clock is None or time >= clock:
            if due and due[0][0] <= time:
                advance(time)
            else:
                scheduler._clock = time
            if clock is None:
                stats.first_time = time
            clock = time
        else:
            stats.backwards += 1
            if on_backwards == "drop":
                stats.dropped += 1
                continue
            if on_backwards == "error":
                raise StreamError("replay", f"time went backwards: {time.isoformat()} after {clock.isoformat()}")
        count += 1
        push = pushers.get(event.kind)
        if push is not None:
            push(event)
    stats.events = count
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
            raise ValueError(f"replay speed must be positive, got {speed}")
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
