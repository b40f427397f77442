from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler import HistoricalScheduler

from rxstream import Engine, ReplayFeed, ReplayScheduler, StreamError, replay_virtual
from rxstream.events import Tick
from rxstream.hub import Hub
from rxstream.pipelines import load_pipelines
from rxstream.tickfile import read_events, write_events

T0 = datetime(2020, 1, 1, 22, tzinfo=UTC)


def plain_conflation(ticks: list[Tick], interval: float) -> list[Tick]:
    """The same per-symbol conflation written as a plain loop over recorded times."""
    out: list[Tick] = []
    window_end: dict[str, datetime] = {}
    pending: dict[str, Tick | None] = {}
    step = timedelta(seconds=interval)

    def close_due(now: datetime) -> None:
        while True:
            due = sorted((end, sym) for sym, end in window_end.items() if end <= now)
            if not due:
                return
            end, sym = due[0]
            value = pending[sym]
            if value is None:
                del window_end[sym], pending[sym]
            else:
                out.append(value)
                pending[sym] = None
                window_end[sym] = end + step

    for tick in ticks:
        close_due(tick.time)
        if tick.symbol in window_end:
            pending[tick.symbol] = tick
        else:
            out.append(tick)
            window_end[tick.symbol] = tick.time + step
            pending[tick.symbol] = None
    out.extend(v for v in pending.values() if v is not None)
    return out


def run_price_updates(events: Any, **settings: Any) -> list[Any]:
    pipelines = [p for p in load_pipelines() if p.name == "price_updates"]
    engine = Engine(pipelines=pipelines, scheduler=ReplayScheduler(), settings=settings)
    engine.start()
    out: list[Any] = []
    engine.outputs["price_updates"].subscribe(out.append)
    replay_virtual(events, engine)
    engine.stop()
    return out


def test_virtual_replay_of_the_session_matches_a_plain_loop(session_file: Path) -> None:
    ticks = list(read_events(session_file))
    out = run_price_updates(ticks)
    assert out == plain_conflation(ticks, 3.0)
    assert 1000 < len(out) < len(ticks)
    assert out[-1] == ticks[-1]  # the last price is always delivered


def test_virtual_replay_is_deterministic(session_file: Path) -> None:
    assert run_price_updates(read_events(session_file)) == run_price_updates(read_events(session_file))


def test_the_interval_setting_reaches_the_pipeline(session_file: Path) -> None:
    fast = run_price_updates(read_events(session_file), price_update_interval=1.0)
    slow = run_price_updates(read_events(session_file), price_update_interval=30.0)
    assert len(fast) > len(slow)


def test_the_clock_follows_the_file_and_timers_fire_in_between() -> None:
    scheduler = ReplayScheduler()
    fired: list[datetime] = []
    hubs = {"ticks": Hub[Tick]("ticks")}
    seen: list[tuple[datetime, datetime]] = []
    hubs["ticks"].subscribe(lambda t: seen.append((t.time, scheduler.now)))
    scheduler.schedule_absolute(T0 + timedelta(seconds=5), lambda *_: fired.append(scheduler.now))
    ticks = [Tick("X", T0 + timedelta(seconds=s), 1.0) for s in (0, 4, 9)]
    stats = replay_virtual(ticks, hubs, scheduler)
    assert [now for _, now in seen] == [t.time for t in ticks]
    assert fired == [T0 + timedelta(seconds=5)]
    assert (stats.events, stats.first_time, stats.last_time) == (3, ticks[0].time, ticks[-1].time)


@pytest.mark.parametrize(("policy", "delivered", "backwards"), [("clamp", 3, 1), ("drop", 2, 1)])
def test_backwards_timestamps_policy(policy: Any, delivered: int, backwards: int) -> None:
    hubs = {"ticks": Hub[Tick]("ticks")}
    scheduler = ReplayScheduler()
    got: list[tuple[Tick, datetime]] = []
    hubs["ticks"].subscribe(lambda t: got.append((t, scheduler.now)))
    ticks = [Tick("X", T0 + timedelta(seconds=s), 1.0) for s in (0, 10, 5)]
    stats = replay_virtual(ticks, hubs, scheduler, on_backwards=policy)
    assert (len(got), stats.backwards) == (delivered, backwards)
    if policy == "clamp":  # emitted unchanged, at the current clock
        assert got[2] == (ticks[2], T0 + timedelta(seconds=10))


def test_backwards_timestamps_can_be_an_error() -> None:
    ticks = [Tick("X", T0 + timedelta(seconds=s), 1.0) for s in (0, 10, 5)]
    with pytest.raises(StreamError, match="time went backwards: 2020-01-01T22:00:05"):
        replay_virtual(ticks, {"ticks": Hub("ticks")}, ReplayScheduler(), on_backwards="error")


def test_replay_virtual_needs_a_virtual_scheduler() -> None:
    with pytest.raises(TypeError, match="ReplayScheduler"):
        replay_virtual([], {"ticks": Hub("ticks")}, HistoricalScheduler())  # type: ignore[arg-type]


# --- paced replay, driven in virtual time -------------------------------------------------


@pytest.fixture
def small_session(tmp_path: Path) -> Path:
    path = tmp_path / "s.jsonl"
    write_events(path, [Tick("EURUSD", T0 + timedelta(seconds=s), 1.0 + s / 1000) for s in (0, 60, 120)])
    return path


async def test_paced_replay_keeps_the_recorded_pace_at_the_speed_factor(small_session: Path) -> None:
    clock = HistoricalScheduler(datetime(2026, 1, 1, tzinfo=UTC))
    feed = ReplayFeed(small_session, speed=60, stamp="recorded")
    async with Engine(pipelines=[], scheduler=clock, feeds=[feed]) as engine:
        got: list[tuple[float, Tick]] = []
        start = clock.now
        engine.sources["ticks"].subscribe(lambda t: got.append(((clock.now - start).total_seconds(), t)))
        clock.advance_by(timedelta(seconds=0.5))
        assert [at for at, _ in got] == [0.0]
        clock.advance_by(timedelta(seconds=2))
        # a minute of recording per second of replay
        assert [at for at, _ in got] == [0.0, 1.0, 2.0]
        assert [t.time for _, t in got] == [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)]
        assert feed.emitted == 3


async def test_paced_replay_loops_with_shifted_times(small_session: Path) -> None:
    clock = HistoricalScheduler(datetime(2026, 1, 1, tzinfo=UTC))
    feed = ReplayFeed(small_session, speed=60, loop=True, stamp="recorded")
    async with Engine(pipelines=[], scheduler=clock, feeds=[feed]) as engine:
        got: list[Tick] = []
        engine.sources["ticks"].subscribe(got.append)
        clock.advance_by(timedelta(seconds=10))
        assert feed.loops >= 2
        times = [t.time for t in got]
        assert times == sorted(times) and len(set(times)) == len(times)  # never repeats, never goes back
        assert times[3] == T0 + timedelta(seconds=121)  # the second run starts right after the first


async def test_paced_replay_stamps_wall_time_by_default(small_session: Path) -> None:
    clock = HistoricalScheduler(datetime(2026, 1, 1, tzinfo=UTC))
    feed = ReplayFeed(small_session, speed=60)
    async with Engine(pipelines=[], scheduler=clock, feeds=[feed]) as engine:
        got: list[Tick] = []
        engine.sources["ticks"].subscribe(got.append)
        clock.advance_by(timedelta(seconds=3))
        assert [t.time for t in got] == [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (0, 1, 2)]
        await feed.stop()
        clock.advance_by(timedelta(seconds=3))
        assert len(got) == 3


async def test_a_bad_file_marks_the_replay_unhealthy_and_the_engine_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"format":"rxstream.ticks","version":1}\n{"type":"tick"}\n')
    clock = HistoricalScheduler(datetime(2026, 1, 1, tzinfo=UTC))
    async with Engine(pipelines=[], scheduler=clock, feeds=[ReplayFeed(path)]) as engine:
        clock.advance_by(timedelta(seconds=1))
        assert engine.health is not None
        assert not engine.health.is_healthy("replay")
        assert f"{path}:2: tick.symbol" in (engine.health.get("replay").last_error or "")


def test_the_replay_scheduler_still_works_as_a_reactivex_virtual_scheduler() -> None:
    clock = ReplayScheduler(T0)
    seen: list[tuple[int, datetime]] = []
    reactivex.interval(timedelta(seconds=2), scheduler=clock).pipe(ops.take(3)).subscribe(
        lambda n: seen.append((n, clock.now))
    )
    cancelled = clock.schedule_relative(timedelta(seconds=3), lambda *_: seen.append((-1, clock.now)))
    cancelled.dispose()
    clock.advance_by(timedelta(seconds=10))
    assert seen == [(n, T0 + timedelta(seconds=2 * (n + 1))) for n in range(3)]
    assert clock.now == T0 + timedelta(seconds=10)


def backwards_file(path: Path) -> Path:
    """Ticks at 0, 10, 5, 20, 3 s, with a bad line before the first backwards one (line 4)."""
    lines = ['{"format":"rxstream.ticks","version":1}']
    for number, seconds in enumerate((0, 10, None, 5, 20, 3)):
        if seconds is None:
            lines.append('{"type":"tick"}')
            continue
        tick = Tick("X", T0 + timedelta(seconds=seconds), 1.0 + number / 100, 1.1)
        lines.append(tick.to_json().decode())
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_virtual_locates_the_first_backwards_event_in_the_file(tmp_path: Path) -> None:
    from rxstream.tickfile import ReadStats

    path = backwards_file(tmp_path / "back.jsonl")
    stats = ReadStats()
    result = replay_virtual(read_events(path, skip_bad=True, stats=stats), {"ticks": Hub("ticks")}, ReplayScheduler(),
                            file_stats=stats)
    assert (result.backwards, result.first_backwards) == (2, f"{path}:5")
    assert result.backwards_summary() == f"2 events went back in time (clamped); first at {path}:5"


def run_replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rxstream.cli", "replay", *args], capture_output=True, text=True,
                          timeout=60)


def test_the_replay_command_reports_backwards_timestamps_on_stderr(tmp_path: Path) -> None:
    path = backwards_file(tmp_path / "back.jsonl")
    done = run_replay(str(path), "--pipeline", "price_updates", "--skip-bad")
    assert done.returncode == 0, done.stderr
    assert f"2 events went back in time (clamped); first at {path}:5\n" in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_makes_a_backwards_timestamp_an_error(tmp_path: Path) -> None:
    path = backwards_file(tmp_path / "back.jsonl")
    done = run_replay(str(path), "--pipeline", "price_updates", "--skip-bad", "--strict")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: stream 'replay': {path}:5: time went backwards: 2020-01-01T22:00:05")
    assert "Traceback" not in done.stderr


def test_the_engine_guard_records_health_and_retries_in_one_stage() -> None:
    from reactivex import operators as ops

    from rxstream.errors import ConfigError
    from rxstream.health import HealthMonitor
    from rxstream.operators import Backoff, retry_with_backoff

    clock = ReplayScheduler(T0)
    health = HealthMonitor(clock)
    hub: Hub[int] = Hub("numbers")
    got: list[int] = []
    hub.pipe(
        ops.map(lambda x: 10 // x),
        retry_with_backoff(Backoff(1, 2, jitter=0), health=health, stream="n", scheduler=clock, record=True),
    ).subscribe(got.append, scheduler=clock)
    hub.on_next(5)
    clock.advance_by(1)
    hub.on_next(0)  # fails: recorded, resubscribed after 1 s
    state = health.get("n")
    assert (state.total_updates, state.total_errors, state.recovery_attempts) == (1, 1, 1)
    assert state.last_update == T0
    clock.advance_by(2)
    hub.on_next(2)
    assert got == [2, 5]
    assert (state.error_count, state.last_update) == (0, T0 + timedelta(seconds=3))
    with pytest.raises(ConfigError, match="record"):
        retry_with_backoff(record=True)


def test_a_hubs_only_subscriber_that_fails_ends_alone_on_every_fast_path() -> None:
    """The replay and the engine's guard call a hub's only subscriber directly; its failure stays isolated."""
    clock = ReplayScheduler(T0)
    ticks: Hub[Tick] = Hub("ticks")
    errors: list[Exception] = []
    ticks.subscribe(lambda t: 1 / 0, errors.append)  # the only subscriber: the replay calls it directly
    events = [Tick("X", T0 + timedelta(seconds=n), 1.0 + n, 2.0) for n in range(3)]
    replay_virtual(events[:1], {"ticks": ticks}, clock, complete=False)
    assert [type(e) for e in errors] == [ZeroDivisionError] and ticks.subscriber_count == 0
    got: list[Tick] = []
    ticks.subscribe(got.append)
    replay_virtual(events[1:], {"ticks": ticks}, clock)
    assert got == events[1:]

    engine = Engine(pipelines=[p for p in load_pipelines() if p.name == "price_updates"],
                    scheduler=ReplayScheduler(T0), publish=False)
    engine.start()
    engine.outputs["price_updates"].subscribe(lambda t: [][0], errors.append)  # into the guard's hub, alone
    replay_virtual(events, engine)
    assert [type(e) for e in errors] == [ZeroDivisionError, IndexError]
    assert engine.health is not None and engine.health.get("price_updates").total_errors == 0  # not the stream's


def test_events_whose_kind_is_their_own_are_routed_one_by_one() -> None:
    """An event type is looked up by type only when its kind is the type's; otherwise each event by its kind."""
    from dataclasses import dataclass

    @dataclass
    class Note:
        kind: str
        time: datetime

    hubs: dict[str, Hub[Any]] = {"ticks": Hub("ticks"), "fills": Hub("fills")}
    seen: dict[str, list[Any]] = {"ticks": [], "fills": []}
    for name, hub in hubs.items():
        hub.subscribe(seen[name].append)
    notes = [Note("tick", T0), Note("fill", T0), Note("signal", T0), Note("tick", T0)]
    stats = replay_virtual(notes, hubs, ReplayScheduler(T0))  # type: ignore[arg-type]
    assert stats.events == 4
    assert seen == {"ticks": [notes[0], notes[3]], "fills": [notes[1]]}
