"""What rxstream relies on in reactivex beyond its operators, pinned so an upgrade that breaks it fails here.

* ``Observable(subscribe)._subscribe_core(observer, scheduler)`` calls ``subscribe``
  (:class:`~rxstream.direct.DirectObservable` and :class:`~rxstream.hub.Hub` build on it);
* ``reactivex.scheduler.periodicscheduler.PeriodicScheduler`` gives ``schedule_periodic``
  and the time conversions on top of ``schedule_relative``
  (:class:`~rxstream.virtualtime.ReplayScheduler` builds on it);
* stock operators subscribe with ``source.subscribe(on_next, on_error, on_completed, scheduler=...)``.

No module of rxstream imports ``reactivex.internal``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import reactivex
from reactivex import abc
from reactivex import operators as ops
from reactivex.disposable import Disposable

import rxstream
from rxstream.direct import DirectObservable, DirectObserver
from rxstream.hub import Hub
from rxstream.virtualtime import NEVER, ReplayScheduler

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def test_no_module_imports_reactivex_internals() -> None:
    package = Path(rxstream.__file__).parent
    offenders = [
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+reactivex\.internal", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_subscribe_core_calls_the_subscribe_function_with_observer_and_scheduler() -> None:
    seen: list[Any] = []
    clock = ReplayScheduler(T0)

    def subscribe(observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        seen.append((type(observer), scheduler))
        observer.on_next(1)
        observer.on_completed()
        return Disposable()

    got: list[int] = []
    DirectObservable(subscribe).subscribe(got.append, scheduler=clock)
    assert seen == [(DirectObserver, clock)] and got == [1]


def test_stock_operators_compose_with_direct_observables_and_hubs() -> None:
    hub: Hub[int] = Hub("numbers")
    got: list[int] = []
    completed: list[bool] = []
    subscription = hub.pipe(ops.map(lambda x: x * 10), ops.take(2)).subscribe(
        got.append, on_completed=lambda: completed.append(True)
    )
    for value in (1, 2, 3):
        hub.on_next(value)
    assert got == [10, 20] and completed == [True]
    assert hub.subscriber_count == 0  # take(2) ended: the hub let go of it
    subscription.dispose()


def test_a_direct_observer_ends_once_and_detaches() -> None:
    events: list[Any] = []
    observer = DirectObserver(events.append, events.append, lambda: events.append("done"))
    observer.detach = lambda: events.append("detached")
    observer.on_next(1)
    observer.on_completed()
    observer.on_next(2)
    observer.on_error(ValueError("late"))
    assert events == [1, "detached", "done"]


def test_a_subscribe_function_that_raises_is_delivered_as_on_error() -> None:
    def subscribe(observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        raise RuntimeError("cannot start")

    errors: list[Exception] = []
    DirectObservable(subscribe).subscribe(on_error=errors.append)
    assert [str(e) for e in errors] == ["cannot start"]


def test_the_replay_scheduler_is_a_periodic_reactivex_scheduler() -> None:
    clock = ReplayScheduler(T0)
    assert isinstance(clock, abc.SchedulerBase) and isinstance(clock, abc.PeriodicSchedulerBase)
    ticks: list[datetime] = []
    periodic = clock.schedule_periodic(timedelta(seconds=2), lambda state: ticks.append(clock.now))
    assert clock.next_due == T0 + timedelta(seconds=2)
    clock.advance_by(7)
    assert ticks == [T0 + timedelta(seconds=s) for s in (2, 4, 6)]
    periodic.dispose()
    clock.advance_by(10)
    assert len(ticks) == 3
    assert clock.to_datetime(0.0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_the_replay_scheduler_runs_timers_in_due_order_each_at_its_own_time() -> None:
    clock = ReplayScheduler(T0)
    ran: list[tuple[str, datetime]] = []
    for name, seconds in (("c", 3), ("a", 1), ("b", 1)):
        clock.schedule_relative(seconds, lambda _, state: ran.append((state, clock.now)), name)
    cancelled = clock.schedule_relative(2, lambda *_: ran.append(("x", clock.now)))
    cancelled.dispose()
    clock.advance_clock(T0 + timedelta(seconds=5))
    assert ran == [("a", T0 + timedelta(seconds=1)), ("b", T0 + timedelta(seconds=1)), ("c", T0 + timedelta(seconds=3))]
    assert clock.now == T0 + timedelta(seconds=5) and clock.next_due is NEVER
    clock.advance_clock(T0)  # the clock never goes back
    assert clock.now == T0 + timedelta(seconds=5)


def test_reactivex_time_operators_run_on_the_replay_scheduler() -> None:
    clock = ReplayScheduler(T0)
    got: list[tuple[int, datetime]] = []
    reactivex.timer(timedelta(seconds=3), scheduler=clock).subscribe(lambda v: got.append((v, clock.now)))
    clock.run_all()
    assert got == [(0, T0 + timedelta(seconds=3))]


def test_the_replay_scheduler_orders_timers_scheduled_out_of_order_and_cancels_lean_ones() -> None:
    """Timers scheduled in any order, lean or not, run by (due, arrival); cancelled ones never run."""
    import random

    clock = ReplayScheduler(T0)
    rng = random.Random(7)
    expected: list[tuple[int, int]] = []
    ran: list[tuple[int, int]] = []
    dues: list[int] = []

    def record(_: object, state: tuple[int, int]) -> None:
        ran.append(state)
        assert clock.now == T0 + timedelta(seconds=state[0])

    for arrival in range(300):
        due = rng.choice([rng.randrange(50), 60 + arrival // 10])  # out of order, then mostly in order
        when = T0 + timedelta(seconds=due)
        dues.append(due)
        if arrival % 2:
            timer = clock.schedule_absolute(when, record, (due, arrival))
            if arrival % 7 == 0:
                timer.dispose()
                continue
        else:
            entry = clock.add_timer(when, record, (due, arrival))
            if arrival % 7 == 0:
                clock.cancel_timer(entry)
                continue
        expected.append((due, arrival))
    assert clock.next_due == T0 + timedelta(seconds=min(dues))  # cancelled ones included
    clock.advance_clock(T0 + timedelta(seconds=30))
    assert ran == sorted(e for e in expected if e[0] <= 30)
    clock.run_all()
    assert ran == sorted(expected)
    assert clock.next_due is NEVER
