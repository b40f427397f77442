"""Marble tests for rxstream.operators, all in virtual time (1 tick = 1 second)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxstream import operators as rxo
from rxstream.health import HealthMonitor

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def letter(value: str) -> str:
    return value[0]


# --- conflate -----------------------------------------------------------------------


def test_conflate_first_at_once_then_latest_per_interval() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, "a1"), on_next(220, "a2"), on_next(230, "a3"),  # window 210..260
        on_next(300, "a4"),   # inside the window a3 opened at 260: waits for 310
        on_next(400, "a5"),   # the key went idle at 360: at once
        on_completed(500),
    )
    results = scheduler.start(lambda: xs.pipe(rxo.conflate(50, key=letter, scheduler=scheduler)))
    assert results.messages == [
        on_next(210, "a1"),
        on_next(260, "a3"),  # a2 was superseded
        on_next(310, "a4"),
        on_next(400, "a5"),
        on_completed(500),
    ]
    assert xs.subscriptions == [subscribe(200, 500)]


def test_conflate_keeps_keys_apart() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, "a1"), on_next(215, "b1"), on_next(220, "a2"), on_next(225, "b2"), on_next(230, "b3"),
    )
    results = scheduler.start(lambda: xs.pipe(rxo.conflate(50, key=letter, scheduler=scheduler)))
    assert results.messages == [
        on_next(210, "a1"), on_next(215, "b1"), on_next(260, "a2"), on_next(265, "b3"),
    ]


def test_conflate_behaves_alike_on_the_replay_clock_and_the_test_scheduler() -> None:
    """On a ReplayScheduler conflation arms lean timers; what it emits, when and in what order is the same."""
    from datetime import UTC, datetime, timedelta

    from rxstream.hub import Hub
    from rxstream.virtualtime import ReplayScheduler

    # a tie on purpose: a and b open windows at 210, b holds a value back first; nothing lands on a window end
    marbles = [(210, "a1"), (210, "b1"), (215, "c1"), (220, "b2"), (230, "a2"), (240, "c2"), (266, "c3"),
               (270, "a3"), (280, "b3"), (290, "c4"), (300, "a4")]
    test_clock = TestScheduler()
    xs = test_clock.create_hot_observable(*(on_next(t, v) for t, v in marbles), on_completed(305))
    expected = test_clock.start(lambda: xs.pipe(rxo.conflate(50, key=letter, scheduler=test_clock))).messages

    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    clock = ReplayScheduler(t0)
    hub: Hub[str] = Hub("letters")
    got: list[Any] = []
    when = lambda: int((clock.now - t0).total_seconds())  # noqa: E731
    hub.pipe(rxo.conflate(50, key=letter, scheduler=clock)).subscribe(
        lambda v: got.append(on_next(when(), v)), on_completed=lambda: got.append(on_completed(when())))
    for t, value in marbles:
        clock.advance_clock(t0 + timedelta(seconds=t))
        hub.on_next(value)
    clock.advance_clock(t0 + timedelta(seconds=305))
    hub.on_completed()
    assert got == expected
    assert [m.value.value for m in expected if m.time == 260] == ["b2", "a2"]  # the tie: in the order held back
    assert [m.value.value for m in expected if m.value.kind == "N"][-3:] == ["c4", "a4", "b3"]  # flushed as held


def test_conflate_always_delivers_the_last_value_unlike_throttle_first() -> None:
    def run(operator: Any) -> list[Any]:
        scheduler = TestScheduler()
        xs = scheduler.create_hot_observable(on_next(210, "a1"), on_next(220, "a2"), on_completed(230))
        return scheduler.start(lambda: xs.pipe(operator(scheduler))).messages

    assert run(lambda s: ops.throttle_first(50, scheduler=s)) == [on_next(210, "a1"), on_completed(230)]
    # completion flushes what a window still holds: the latest price is never lost
    assert run(lambda s: rxo.conflate(50, key=letter, scheduler=s)) == [
        on_next(210, "a1"), on_next(230, "a2"), on_completed(230),
    ]


def test_conflate_flushes_before_an_error() -> None:
    scheduler = TestScheduler()
    error = RuntimeError("feed lost")
    xs = scheduler.create_hot_observable(on_next(210, "a1"), on_next(220, "a2"), on_error(230, error))
    results = scheduler.start(lambda: xs.pipe(rxo.conflate(50, key=letter, scheduler=scheduler)))
    assert results.messages == [on_next(210, "a1"), on_next(230, "a2"), on_error(230, error)]


def test_conflate_goes_quiet_and_keeps_no_timer_when_idle() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, "a1"), on_next(400, "a2"))
    results = scheduler.start(lambda: xs.pipe(rxo.conflate(50, key=letter, scheduler=scheduler)), disposed=2000)
    assert results.messages == [on_next(210, "a1"), on_next(400, "a2")]
    assert len(scheduler._queue) == 0  # windows closed, nothing left scheduled


def test_conflate_uses_the_subscribe_scheduler_and_refuses_thread_timers() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, "a1"), on_next(220, "a2"))
    results = scheduler.start(lambda: xs.pipe(rxo.conflate(50)))  # start() subscribes with the scheduler
    assert results.messages == [on_next(210, "a1"), on_next(260, "a2")]
    with pytest.raises(ValueError, match="conflate: pass scheduler"):
        reactivex.of(1).pipe(rxo.conflate(1)).subscribe()
    with pytest.raises(ValueError, match="interval must be positive"):
        rxo.conflate(0)


# --- retry_with_backoff -------------------------------------------------------------


def failing_source(scheduler: TestScheduler, fail_times: int) -> tuple[reactivex.Observable[str], list[float]]:
    """Emits 'ok' at once on each subscription after the first ``fail_times``, which error at once."""
    subscribed_at: list[float] = []

    def subscribe_(observer: Any, _: Any = None) -> Any:
        subscribed_at.append(scheduler.clock)
        if len(subscribed_at) <= fail_times:
            observer.on_error(RuntimeError(f"failure {len(subscribed_at)}"))
        else:
            observer.on_next("ok")
        return reactivex.disposable.Disposable()

    return reactivex.create(subscribe_), subscribed_at


def test_backoff_delays_grow_exponentially_and_cap() -> None:
    scheduler = TestScheduler()
    source, subscribed_at = failing_source(scheduler, fail_times=5)
    health = HealthMonitor(scheduler)
    backoff = rxo.Backoff(initial=10, factor=2, maximum=50, jitter=0)
    results = scheduler.start(
        lambda: source.pipe(rxo.retry_with_backoff(backoff, health=health, stream="prices", scheduler=scheduler))
    )
    # subscribed at 200, then after 10, 20, 40, 50 (capped), 50
    assert subscribed_at == [200, 210, 230, 270, 320, 370]
    assert results.messages == [on_next(370, "ok")]
    assert health.get("prices").recovery_attempts == 5


def test_backoff_jitter_stays_within_bounds_and_is_reproducible() -> None:
    a = rxo.Backoff(initial=1, factor=2, maximum=60, jitter=0.2, rng=random.Random(7))
    b = rxo.Backoff(initial=1, factor=2, maximum=60, jitter=0.2, rng=random.Random(7))
    delays = [a.delay(n) for n in range(1, 10)]
    assert delays == [b.delay(n) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(60, 2 ** (n - 1))
        assert nominal * 0.8 <= delay <= min(60, nominal * 1.2)
    assert len(set(delays)) == len(delays)  # jittered: no two reconnects in lockstep


def test_backoff_restarts_after_a_value_and_gives_up_after_max_attempts() -> None:
    scheduler = TestScheduler()
    source, subscribed_at = failing_source(scheduler, fail_times=10)
    backoff = rxo.Backoff(initial=5, factor=3, maximum=100, jitter=0)
    results = scheduler.start(
        lambda: source.pipe(rxo.retry_with_backoff(backoff, max_attempts=2, scheduler=scheduler))
    )
    assert subscribed_at == [200, 205, 220]
    assert results.messages == [on_error(220, RuntimeError("failure 3"))]


def test_retry_resets_the_delay_after_a_success() -> None:
    scheduler = TestScheduler()
    calls = 0

    def subscribe_(observer: Any, _: Any = None) -> Any:
        nonlocal calls
        calls += 1
        if calls in (1, 3, 4):
            observer.on_error(RuntimeError("down"))
        else:
            observer.on_next(calls)
            scheduler.schedule_relative(1, lambda *_: observer.on_error(RuntimeError("down again")))
        return reactivex.disposable.Disposable()

    backoff = rxo.Backoff(initial=10, factor=2, maximum=100, jitter=0)
    results = scheduler.start(
        lambda: reactivex.create(subscribe_).pipe(rxo.retry_with_backoff(backoff, scheduler=scheduler)),
        disposed=300,
    )
    # fail at 200 -> 210 ok(2), fails at 211 -> attempt 1 again: 221 fails -> 241 fails -> 281 ok(5),
    # fails at 282 -> attempt 1 again (the value reset the count): 292 ok(6)
    assert results.messages == [on_next(210, 2), on_next(281, 5), on_next(292, 6)]


# --- monitor ------------------------------------------------------------------------


def test_monitor_records_updates_and_errors() -> None:
    scheduler = TestScheduler()
    health = HealthMonitor(scheduler)
    error = RuntimeError("bad tick")
    xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_error(230, error))
    results = scheduler.start(lambda: xs.pipe(rxo.monitor(health, "prices")))
    assert results.messages == [on_next(210, 1), on_next(220, 2), on_error(230, error)]
    state = health.get("prices")
    assert (state.total_updates, state.error_count) == (2, 1)


class BrokenHealth(HealthMonitor):
    def record_update(self, stream: str) -> None:
        raise OSError("status store unavailable")


def test_a_failing_health_tap_never_kills_the_stream() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_completed(230))
    results = scheduler.start(lambda: xs.pipe(rxo.monitor(BrokenHealth(scheduler), "prices")))
    assert results.messages == [on_next(210, 1), on_next(220, 2), on_completed(230)]


# --- element isolation --------------------------------------------------------------


def test_safe_map_skips_the_failing_element_and_records_it() -> None:
    scheduler = TestScheduler()
    health = HealthMonitor(scheduler)
    xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 0), on_next(230, 4), on_completed(240))
    results = scheduler.start(lambda: xs.pipe(rxo.safe_map(lambda x: 8 // x, health=health, stream="calc")))
    assert results.messages == [on_next(210, 8), on_next(230, 2), on_completed(240)]
    assert health.get("calc").error_count == 1
    assert "ZeroDivisionError" in (health.get("calc").last_error or "")


def test_safe_filter_skips_the_failing_element() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, "a"), on_next(220, None), on_next(230, "c"))
    results = scheduler.start(lambda: xs.pipe(rxo.safe_filter(lambda s: s.isalpha())))
    assert results.messages == [on_next(210, "a"), on_next(230, "c")]


def test_safe_map_does_not_swallow_downstream_errors() -> None:
    def downstream(value: int) -> None:
        raise LookupError("subscriber bug")

    with pytest.raises(LookupError):
        reactivex.of(1).pipe(rxo.safe_map(lambda x: x)).subscribe(downstream)


# --- dedupe and filters -------------------------------------------------------------


def test_dedupe_drops_repeats_by_key() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, "e1"), on_next(220, "e2"), on_next(230, "e1"), on_next(240, "e3"), on_next(250, "e2"),
    )
    results = scheduler.start(lambda: xs.pipe(rxo.dedupe(lambda e: e)))
    assert results.messages == [on_next(210, "e1"), on_next(220, "e2"), on_next(240, "e3")]


def test_dedupe_memory_is_bounded() -> None:
    seen: list[int] = []
    reactivex.from_iterable([1, 2, 3, 1, 4, 2]).pipe(rxo.dedupe(lambda x: x, capacity=2)).subscribe(seen.append)
    # capacity 2: after 3 arrives, 1 is forgotten; 1 re-arrives and is new again; 2 was forgotten too
    assert seen == [1, 2, 3, 1, 4, 2]
    seen.clear()
    reactivex.from_iterable([1, 2, 1, 2, 1]).pipe(rxo.dedupe(lambda x: x, capacity=2)).subscribe(seen.append)
    assert seen == [1, 2]


def test_signal_filters(signal_factory: Any) -> None:
    signals = [signal_factory("BUY", 0.9), signal_factory("HOLD", 0.9), signal_factory("SELL", 0.2)]
    out: list[Any] = []
    reactivex.from_iterable(signals).pipe(rxo.drop_hold(), rxo.min_confidence(0.5)).subscribe(out.append)
    assert [s.action for s in out] == ["BUY"]
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        rxo.min_confidence(2)


def test_only_symbols(tick_factory: Any) -> None:
    out: list[Any] = []
    ticks = [tick_factory("EURUSD"), tick_factory("AAPL"), tick_factory("USDJPY")]
    reactivex.from_iterable(ticks).pipe(rxo.only_symbols({"EURUSD", "USDJPY"})).subscribe(out.append)
    assert [t.symbol for t in out] == ["EURUSD", "USDJPY"]
    out.clear()
    reactivex.from_iterable(ticks).pipe(rxo.only_symbols(None)).subscribe(out.append)
    assert len(out) == 3
