"""The ``ohlc`` operator: marble tests in virtual time (1 tick = 1 second), a replay, and a live loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import reactivex
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import ReactiveTest, TestScheduler

from rxstream import operators as rxo
from rxstream.errors import ConfigError, ValidationError
from rxstream.events import Bar, Tick
from rxstream.hub import Hub
from rxstream.replay import ReplayScheduler, replay_virtual

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def bar(symbol: str, start: float, o: float, h: float, low: float, c: float, n: int, length: float = 60) -> Bar:
    return Bar(symbol, at(start), at(start + length), o, h, low, c, n)


def first(pair: tuple[str, float | None]) -> str:
    return pair[0]


def second(pair: tuple[str, float | None]) -> float | None:
    return pair[1]


def by_pair(interval: float, scheduler: TestScheduler) -> object:
    return rxo.ohlc(interval, key=first, price=second, scheduler=scheduler)


def test_bars_cover_clock_aligned_windows_and_close_when_the_window_ends() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(  # windows of 60 s: [180, 240), [240, 300), [300, 360)
        on_next(205, ("a", 1.0)), on_next(210, ("a", 3.0)), on_next(215, ("a", 0.5)), on_next(239, ("a", 2.0)),
        on_next(240, ("a", 5.0)),  # the first instant of the next window belongs to it
        on_next(330, ("a", 4.0)),  # [240, 300) closes at 300; nothing in [300, 360) but this
        on_completed(400),
    )
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [
        on_next(240, bar("a", 180, 1.0, 3.0, 0.5, 2.0, 4)),
        on_next(300, bar("a", 240, 5.0, 5.0, 5.0, 5.0, 1)),
        on_next(360, bar("a", 300, 4.0, 4.0, 4.0, 4.0, 1)),
        on_completed(400),
    ]
    assert xs.subscriptions == [subscribe(200, 400)]


def test_no_bar_for_a_window_without_ticks() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, ("a", 1.0)), on_next(500, ("a", 2.0)), on_completed(700))
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [
        on_next(240, bar("a", 180, 1.0, 1.0, 1.0, 1.0, 1)),
        on_next(540, bar("a", 480, 2.0, 2.0, 2.0, 2.0, 1)),
        on_completed(700),
    ]


def test_one_bar_per_key_in_the_order_keys_first_appeared() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(205, ("b", 7.0)), on_next(206, ("a", 1.0)), on_next(207, ("b", 6.0)), on_next(250, ("a", 2.0)),
    )
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [
        on_next(240, bar("b", 180, 7.0, 7.0, 6.0, 6.0, 2)),
        on_next(240, bar("a", 180, 1.0, 1.0, 1.0, 1.0, 1)),
        on_next(300, bar("a", 240, 2.0, 2.0, 2.0, 2.0, 1)),
    ]


def test_completion_emits_the_partial_bar_first() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(205, ("a", 1.0)), on_next(220, ("a", 2.0)), on_completed(225))
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [on_next(225, bar("a", 180, 1.0, 2.0, 1.0, 2.0, 2)), on_completed(225)]


def test_an_error_emits_the_partial_bar_then_the_error() -> None:
    scheduler = TestScheduler()
    error = RuntimeError("feed lost")
    xs = scheduler.create_hot_observable(on_next(205, ("a", 1.0)), on_error(210, error))
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [on_next(210, bar("a", 180, 1.0, 1.0, 1.0, 1.0, 1)), on_error(210, error)]


def test_values_without_a_price_are_skipped() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(205, ("a", None)), on_next(206, ("a", 2.0)), on_next(207, ("a", None)), on_completed(230),
    )
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)))
    assert results.messages == [on_next(230, bar("a", 180, 2.0, 2.0, 2.0, 2.0, 1)), on_completed(230)]


def test_disposing_cancels_the_window_timer() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(205, ("a", 1.0)), on_next(400, ("a", 1.0)))
    results = scheduler.start(lambda: xs.pipe(by_pair(60, scheduler)), disposed=220)
    assert results.messages == []
    assert xs.subscriptions == [subscribe(200, 220)]


def test_defaults_are_symbol_and_mid_and_a_timedelta_interval_works(tick_factory) -> None:  # type: ignore[no-untyped-def]
    ticks = [
        tick_factory("EURUSD", bid=1.1000, ask=1.1002, seconds=1),
        tick_factory("EURUSD", bid=1.1004, ask=1.1006, seconds=2),
        Tick("EURUSD", tick_factory(seconds=3).time, bid=1.2),  # one-sided: no mid, skipped
    ]
    scheduler = ReplayScheduler(ticks[0].time)
    bars: list[Bar] = []
    reactivex.from_iterable(ticks).pipe(rxo.ohlc(timedelta(minutes=1), scheduler=scheduler)).subscribe(bars.append)
    start = datetime(2020, 1, 1, 22, tzinfo=UTC)
    assert bars == [Bar("EURUSD", start, start + timedelta(minutes=1), 1.1001, 1.1005, 1.1001, 1.1005, 2)]


def test_bars_in_a_replay_close_on_the_recorded_clock(tick_factory) -> None:  # type: ignore[no-untyped-def]
    ticks = [tick_factory("EURUSD", bid=b, seconds=s) for b, s in ((1.1, 5), (1.3, 50), (1.2, 61), (1.0, 200))]
    hub: Hub[Tick] = Hub("ticks")
    scheduler = ReplayScheduler(ticks[0].time)
    seen: list[tuple[datetime, Bar]] = []
    hub.pipe(rxo.ohlc(60, scheduler=scheduler)).subscribe(lambda b: seen.append((scheduler.now, b)))
    replay_virtual(ticks, {"ticks": hub}, scheduler)
    base = datetime(2020, 1, 1, 22, tzinfo=UTC)
    minute = timedelta(minutes=1)
    assert [(when - base, b.start - base, b.open, b.close, b.ticks) for when, b in seen] == [
        (minute, timedelta(0), 1.1001, 1.3001, 2),  # emitted as the clock reached 22:01:00
        (2 * minute, minute, 1.2001, 1.2001, 1),
        (200 * timedelta(seconds=1), 3 * minute, 1.0001, 1.0001, 1),  # the partial bar, at completion
    ]


def test_bars_close_on_a_live_loop() -> None:
    async def main() -> list[Bar]:
        loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(loop)
        done = asyncio.Event()
        bars: list[Bar] = []

        def received(b: Bar) -> None:
            bars.append(b)
            if sum(bar.ticks for bar in bars) == 3:  # the ticks may straddle a boundary: two bars then
                done.set()

        hub: Hub[tuple[str, float]] = Hub("quotes")
        hub.pipe(rxo.ohlc(0.05, key=first, price=second)).subscribe(received, scheduler=scheduler)
        for price in (1.0, 3.0, 2.0):
            hub.on_next(("a", price))
        await asyncio.wait_for(done.wait(), timeout=5)  # the window closes by itself, no completion
        return bars

    bars = asyncio.run(main())
    assert len(bars) >= 1
    assert len(bars) in (1, 2)
    assert all(b.end - b.start == timedelta(milliseconds=50) for b in bars)
    assert bars[0].open == 1.0 and bars[-1].close == 2.0


def test_ohlc_refuses_a_non_positive_interval_and_thread_timers() -> None:
    with pytest.raises(ConfigError, match=r"ohlc\.interval"):
        rxo.ohlc(0)
    errors: list[Exception] = []
    reactivex.of(("a", 1.0)).pipe(rxo.ohlc(60, key=first, price=second)).subscribe(on_error=errors.append)
    assert errors and "scheduler" in str(errors[0])


def test_bar_serialises_as_the_documented_shape() -> None:
    b = bar("EURUSD", 1_577_916_000, 1.5, 2.0, 1.0, 1.25, 3)
    assert b.to_json() == (
        b'{"type":"bar","symbol":"EURUSD","start":"2020-01-01T22:00:00Z","end":"2020-01-01T22:01:00Z",'
        b'"open":1.5,"high":2.0,"low":1.0,"close":1.25,"ticks":3}'
    )
    assert Bar.from_dict({**b.to_dict(), "start": "2020-01-01T22:00:00Z"}) == b
    with pytest.raises(ValidationError, match=r"bar\.ticks"):
        Bar.from_dict({**b.to_dict(), "ticks": 0})
    with pytest.raises(ValidationError, match=r"bar\.high"):
        Bar.from_dict({**b.to_dict(), "high": 1.1})
