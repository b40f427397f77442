from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reactivex import operators as ops
from reactivex.scheduler import HistoricalScheduler

from rxstream import Engine, Pipeline, PipelineContext, ReplayFeed
from rxstream.events import Fill, Signal, Tick
from rxstream.operators import Backoff
from rxstream.pipelines import load_pipelines

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tick(symbol: str, bid: float) -> Tick:
    return Tick(symbol, T0, bid, bid + 0.0002)


def fragile(ctx: PipelineContext) -> Any:
    """Fails on a negative bid: an unguarded bug in user code."""
    return ctx.source("ticks").pipe(ops.map(lambda t: 1 / (t.bid + 1) if t.bid >= 0 else 1 / 0))


def passthrough(ctx: PipelineContext) -> Any:
    return ctx.source("ticks")


def virtual_engine(*pipelines: Pipeline, **kwargs: Any) -> tuple[Engine, HistoricalScheduler]:
    clock = HistoricalScheduler(T0)
    engine = Engine(pipelines=list(pipelines), scheduler=clock, backoff=Backoff(1, 2, 10, jitter=0), **kwargs)
    engine.start()
    return engine, clock


def test_one_streams_failure_never_stops_another() -> None:
    engine, clock = virtual_engine(
        Pipeline("fragile", fragile, sources=("ticks",)), Pipeline("steady", passthrough, sources=("ticks",))
    )
    steady: list[Any] = []
    fragile_out: list[Any] = []
    engine.outputs["steady"].subscribe(steady.append)
    engine.outputs["fragile"].subscribe(fragile_out.append)
    ticks = engine.sources["ticks"]
    ticks.on_next(tick("A", 1.0))
    ticks.on_next(tick("A", -1.0))  # fragile fails, retries in 1 s
    ticks.on_next(tick("A", 3.0))  # fragile is down, steady is not
    clock.advance_by(timedelta(seconds=1))
    ticks.on_next(tick("A", 4.0))  # fragile is back
    assert [t.bid for t in steady] == [1.0, -1.0, 3.0, 4.0]
    assert fragile_out == [0.5, 0.2]
    assert engine.health is not None
    assert engine.health.get("fragile").recovery_attempts == 1
    assert engine.health.get("fragile").total_errors == 1
    assert engine.health.is_healthy("steady")


def test_ten_failures_turn_the_stream_unhealthy_and_recovery_turns_it_back() -> None:
    engine, clock = virtual_engine(Pipeline("fragile", fragile, sources=("ticks",)))
    assert engine.health is not None
    for _ in range(10):
        engine.sources["ticks"].on_next(tick("A", -1.0))
        clock.advance_by(timedelta(seconds=10))  # past the longest backoff
    assert not engine.health.is_healthy("fragile")
    assert engine.health.get("fragile").recovery_attempts == 10
    engine.sources["ticks"].on_next(tick("A", 1.0))
    assert engine.health.is_healthy("fragile")


def test_a_pipeline_that_fails_to_build_is_reported_and_the_rest_run() -> None:
    def broken(ctx: PipelineContext) -> Any:
        raise KeyError("no such setting")

    engine, _ = virtual_engine(Pipeline("broken", broken), Pipeline("steady", passthrough, sources=("ticks",)))
    assert engine.health is not None
    assert not engine.health.is_healthy("broken")
    assert "failed to build: KeyError" in (engine.health.get("broken").last_error or "")
    got: list[Any] = []
    engine.outputs["steady"].subscribe(got.append)
    engine.sources["ticks"].on_next(tick("A", 1.0))
    assert len(got) == 1


def test_outputs_are_published_on_the_bus_with_sequence_numbers() -> None:
    engine, _ = virtual_engine(*load_pipelines())
    messages: list[Any] = []
    engine.bus.subscribe(messages.append)
    fill = Fill("e1", 1, "DU1", "EURUSD", "BUY", 1000, 1.1, 2.0, T0)
    engine.sources["fills"].on_next(fill)
    engine.sources["fills"].on_next(fill)  # resent after a reconnect: deduplicated
    engine.sources["signals"].on_next(Signal("s", "EURUSD", "HOLD", 0.9, T0))
    engine.sources["signals"].on_next(Signal("s", "EURUSD", "SELL", 0.9, T0))
    assert [(m.topic, m.seq) for m in messages] == [("trade_executions", 1), ("signals", 1)]
    assert engine.bus.topics["price_updates"].policy == "state"


def test_an_evaluator_feeds_the_signals_source() -> None:
    engine, _ = virtual_engine(*load_pipelines(), settings={"ma_fast": 2, "ma_slow": 4, "ma_min_edge_bp": 1})
    signals: list[Any] = []
    engine.outputs["signals"].subscribe(signals.append)
    for bid in (1.0, 1.0, 1.0, 1.1, 0.8, 0.8, 1.2, 1.3):  # up, cross down, confirm, cross up, confirm
        engine.sources["ticks"].on_next(tick("EURUSD", bid))
    assert [s.action for s in signals] == ["SELL", "BUY"]


def test_stop_disposes_every_subscription_and_unregisters_callbacks() -> None:
    engine, _ = virtual_engine(*load_pipelines())
    callbacks: list[Any] = []
    engine.bridge("signals", callbacks.append, callbacks.remove)
    assert engine.sources["ticks"].subscriber_count == 3  # price_updates, bars_1m and ma_crossover
    assert len(callbacks) == 1
    engine.stop()
    assert all(hub.subscriber_count == 0 for hub in engine.sources.values())
    assert all(hub.subscriber_count == 0 for hub in engine.outputs.values())
    assert callbacks == []


def test_two_engines_share_nothing(tmp_path: Path) -> None:
    (tmp_path / "counting.py").write_text(
        "from rxstream import Pipeline\n"
        "seen = []\n"
        "def build(ctx):\n"
        "    return ctx.source('ticks').pipe(__import__('reactivex').operators.do_action(seen.append),\n"
        "                                    __import__('reactivex').operators.map(lambda _: len(seen)))\n"
        "pipeline = Pipeline('counting', build, sources=('ticks',))\n"
    )
    a, _ = virtual_engine(*load_pipelines(tmp_path))
    b, _ = virtual_engine(*load_pipelines(tmp_path))
    got_a: list[int] = []
    got_b: list[int] = []
    a.outputs["counting"].subscribe(got_a.append)
    b.outputs["counting"].subscribe(got_b.append)
    for _ in range(3):
        a.sources["ticks"].on_next(tick("A", 1.0))
    b.sources["ticks"].on_next(tick("A", 1.0))
    assert (got_a, got_b) == ([1, 2, 3], [1])  # module state is per engine
    assert a.bus is not b.bus and a.health is not b.health and a.bus.epoch != b.bus.epoch


async def test_async_with_runs_feeds_on_the_loop_and_stops_cleanly(session_file: Path) -> None:
    feed = ReplayFeed(session_file, speed=1e6)
    async with Engine() as engine:
        assert engine.loop is not None and engine.running
        got: list[Any] = []
        import asyncio

        done = asyncio.Event()

        def on_tick(t: Tick) -> None:
            got.append(t)
            if len(got) == 1000:
                done.set()

        engine.sources["ticks"].subscribe(on_tick)
        await feed.start(engine.feed_context())
        await asyncio.wait_for(done.wait(), timeout=20)
        await feed.stop()
    assert not engine.running
    assert engine.sources["ticks"].subscriber_count == 1  # only the test's own subscriber is left


def test_a_failing_hub_subscriber_never_costs_the_others_a_value() -> None:
    from rxstream.hub import Hub

    hub: Hub[int] = Hub("ticks")
    got: list[int] = []
    errors: list[Exception] = []
    hub.subscribe(lambda v: 1 / 0)  # no error handler: ends, logged
    hub.subscribe(lambda v: [][v], errors.append)
    hub.subscribe(got.append)
    hub.on_next(1)
    hub.on_next(2)
    assert got == [1, 2]
    assert [type(e) for e in errors] == [IndexError]
    assert hub.subscriber_count == 1  # the failed ones are gone


def test_stream_health_is_pushed_on_its_topic_when_it_changes() -> None:
    engine, clock = virtual_engine(
        Pipeline("fragile", fragile, sources=("ticks",)),
        Pipeline("steady", passthrough, sources=("ticks",)),
        health_interval=1.0,
    )
    pushed: list[dict[str, Any]] = []
    engine.bus.subscribe(lambda m: pushed.append(m.value) if m.topic == "stream_health" else None)
    assert {m.value["stream"] for m in engine.bus.snapshot("stream_health")} == {"fragile", "steady"}
    clock.advance_by(timedelta(seconds=5))
    assert pushed == []  # nothing changed: nothing sent
    for _ in range(10):
        engine.sources["ticks"].on_next(tick("A", -1.0))
        clock.advance_by(timedelta(seconds=10))
    latest = {m.value["stream"]: m.value for m in engine.bus.snapshot("stream_health")}
    assert latest["fragile"]["is_healthy"] is False and latest["fragile"]["recovery_attempts"] == 10
    assert latest["steady"]["is_healthy"] is True
    engine.stop()
    count = len(pushed)
    clock.advance_by(timedelta(seconds=10))
    assert len(pushed) == count  # the periodic check stops with the engine


def test_health_is_not_pushed_on_a_given_scheduler_unless_asked() -> None:
    engine, _ = virtual_engine(Pipeline("steady", passthrough, sources=("ticks",)))
    assert "stream_health" not in engine.bus.topics


def test_the_health_topic_name_is_reserved() -> None:
    with pytest.raises(ValueError, match="'stream_health' is the engine's own topic"):
        Engine(pipelines=[Pipeline("stream_health", passthrough)], scheduler=HistoricalScheduler(T0))


async def test_an_engine_can_be_started_again_on_a_new_loop_run() -> None:
    engine = Engine(pipelines=[Pipeline("steady", passthrough, sources=("ticks",))])
    for _ in range(2):
        async with engine:
            got: list[Any] = []
            engine.outputs["steady"].subscribe(got.append)
            engine.sources["ticks"].on_next(tick("A", 1.0))
            assert len(got) == 1
            assert "stream_health" in engine.bus.topics
            assert engine.health is not None and engine.health.scheduler is engine.scheduler
        assert engine.sources["ticks"].subscriber_count == 0
