"""The ``rolling`` operator: windows by count and by time, in virtual time (1 tick = 1 second)."""

from __future__ import annotations

import random
import statistics
from operator import attrgetter
from typing import Any

import pytest
import reactivex
from reactivex.testing import ReactiveTest, TestScheduler

from rxstream import operators as rxo
from rxstream.errors import ConfigError
from rxstream.events import Tick
from rxstream.operators import RollingValue

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def first(pair: tuple[str, float]) -> str:
    return pair[0]


def second(pair: tuple[str, float]) -> float:
    return pair[1]


def values(results: Any) -> list[tuple[float, Any]]:
    """(time, rounded value) of each emission, the completion as (time, "|")."""
    out: list[tuple[float, Any]] = []
    for message in results.messages:
        kind = message.value.kind
        out.append((message.time, round(message.value.value.value, 6) if kind == "N" else "|"))
    return out


def test_count_window_mean_emits_once_full() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, ("a", 1.0)), on_next(220, ("a", 2.0)), on_next(230, ("a", 3.0)), on_next(240, ("a", 6.0)),
        on_completed(250),
    )
    results = scheduler.start(lambda: xs.pipe(rxo.rolling(3, key=first, value=second)))
    assert values(results) == [(230, 2.0), (240, round(11 / 3, 6)), (250, "|")]
    assert results.messages[0].value.value == RollingValue("a", 2.0, 3, ("a", 3.0))
    assert xs.subscriptions == [subscribe(200, 250)]


def test_count_windows_are_kept_per_key() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, ("a", 1.0)), on_next(211, ("b", 10.0)), on_next(212, ("a", 3.0)), on_next(213, ("b", 30.0)),
    )
    results = scheduler.start(lambda: xs.pipe(rxo.rolling(2, key=first, value=second)))
    assert [(m.time, m.value.value.key, m.value.value.value) for m in results.messages] == [
        (212, "a", 2.0), (213, "b", 20.0),
    ]


def test_time_window_holds_the_last_seconds_on_the_scheduler_clock() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, ("a", 1.0)), on_next(215, ("a", 3.0)), on_next(220, ("a", 5.0)),  # 210 leaves at 220: (210, 220]
        on_next(300, ("a", 7.0)),  # alone in (290, 300]
    )
    results = scheduler.start(
        lambda: xs.pipe(rxo.rolling(seconds=10, key=first, value=second, scheduler=scheduler))
    )
    assert values(results) == [(210, 1.0), (215, 2.0), (220, 4.0), (300, 7.0)]
    assert [m.value.value.length for m in results.messages] == [1, 2, 2, 1]


def test_min_and_max_follow_values_leaving_the_window() -> None:
    prices = [5.0, 1.0, 4.0, 3.0, 2.0, 6.0, 0.5]

    def run(reducer: str) -> list[float]:
        out: list[float] = []
        reactivex.from_iterable(("a", p) for p in prices).pipe(
            rxo.rolling(3, reducer=reducer, key=first, value=second),  # type: ignore[arg-type]
        ).subscribe(lambda r: out.append(r.value))
        return out

    assert run("min") == [1.0, 1.0, 2.0, 2.0, 0.5]
    assert run("max") == [5.0, 4.0, 4.0, 6.0, 6.0]


def test_vwap_weights_by_size_and_skips_values_without_one(tick_factory: Any) -> None:
    base = tick_factory().time
    trades = [
        Tick("ES", base, last=100.0, last_size=1.0),
        Tick("ES", base, last=110.0, last_size=3.0),
        Tick("ES", base, last=999.0),  # no size: skipped
        Tick("ES", base, last=120.0, last_size=1.0),
    ]
    out: list[float] = []
    reactivex.from_iterable(trades).pipe(
        rxo.rolling(2, reducer="vwap", value=attrgetter("last"), weight=attrgetter("last_size"), min_count=1),
    ).subscribe(lambda r: out.append(round(r.value, 9)))
    assert out == [100.0, 107.5, 112.5]


def test_a_function_reducer_gets_the_window_oldest_first() -> None:
    windows: list[tuple[float, ...]] = []

    def median(xs: Any) -> float:
        windows.append(tuple(xs))
        return statistics.median(xs)

    out: list[float] = []
    reactivex.from_iterable([("a", 3.0), ("a", 1.0), ("a", 2.0)]).pipe(
        rxo.rolling(2, reducer=median, key=first, value=second),
    ).subscribe(lambda r: out.append(r.value))
    assert windows == [(3.0, 1.0), (1.0, 2.0)]
    assert out == [2.0, 1.5]


def test_running_mean_matches_a_recomputation_over_a_long_stream() -> None:
    rng = random.Random(7)
    prices = [1.1 + rng.gauss(0, 0.001) for _ in range(5_000)]
    out: list[float] = []
    reactivex.from_iterable(("a", p) for p in prices).pipe(
        rxo.rolling(100, key=first, value=second),
    ).subscribe(lambda r: out.append(r.value))
    expected = [statistics.fmean(prices[i - 99:i + 1]) for i in range(99, len(prices))]
    assert len(out) == len(expected)
    assert max(abs(a - b) for a, b in zip(out, expected, strict=True)) < 1e-12


def test_rolling_refuses_bad_windows() -> None:
    with pytest.raises(ConfigError, match="not both"):
        rxo.rolling(3, seconds=10)
    with pytest.raises(ConfigError, match="not both"):
        rxo.rolling()
    with pytest.raises(ConfigError, match=r"rolling\.size"):
        rxo.rolling(0)
    with pytest.raises(ConfigError, match=r"rolling\.seconds"):
        rxo.rolling(seconds=-1)
    with pytest.raises(ConfigError, match=r"rolling\.weight"):
        rxo.rolling(3, reducer="vwap")
    with pytest.raises(ConfigError, match=r"rolling\.reducer"):
        rxo.rolling(3, reducer="median")  # type: ignore[arg-type]


def test_a_time_window_needs_a_scheduler() -> None:
    errors: list[Exception] = []
    reactivex.of(("a", 1.0)).pipe(rxo.rolling(seconds=5, key=first, value=second)).subscribe(
        on_error=errors.append
    )
    assert errors and "scheduler" in str(errors[0])
