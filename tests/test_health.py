from datetime import UTC, datetime, timedelta

import pytest
from reactivex.scheduler import HistoricalScheduler

from rxstream.errors import ConfigError
from rxstream.health import HealthMonitor

START = datetime(2024, 12, 19, 11, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> HistoricalScheduler:
    return HistoricalScheduler(START)


def test_ten_consecutive_errors_make_a_stream_unhealthy(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    health.register("price_updates")
    for _ in range(9):
        health.record_error("price_updates", RuntimeError("feed down"))
    assert health.is_healthy("price_updates")
    health.record_error("price_updates", RuntimeError("feed down"))
    assert not health.is_healthy("price_updates")
    assert health.get("price_updates").last_error == "RuntimeError: feed down"


def test_a_success_resets_the_error_count(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    for _ in range(10):
        health.record_error("s", "boom")
    health.record_update("s")
    assert health.is_healthy("s")
    assert health.get("s").error_count == 0
    assert health.get("s").total_errors == 10


def test_five_minutes_without_an_update_is_stale(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    health.register("s")
    clock.advance_by(timedelta(seconds=299))
    assert health.is_healthy("s")  # counted from registration before the first update
    health.record_update("s")
    clock.advance_by(timedelta(seconds=299.999))
    assert health.is_healthy("s")
    clock.advance_by(timedelta(milliseconds=1))
    assert not health.is_healthy("s")
    health.record_update("s")
    assert health.is_healthy("s")


def test_thresholds_are_configurable(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock, error_threshold=3, stale_after=timedelta(seconds=10))
    for _ in range(3):
        health.record_error("s", "x")
    assert not health.is_healthy("s")
    health.record_update("s")
    clock.advance_by(timedelta(seconds=10))
    assert not health.is_healthy("s")
    with pytest.raises(ConfigError, match="error_threshold"):
        HealthMonitor(clock, error_threshold=0)
    with pytest.raises(ConfigError, match="stale_after"):
        HealthMonitor(clock, stale_after=0)


def test_mark_down_overrides_until_marked_up(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    health.record_update("ibkr")
    health.mark_down("ibkr", "disconnected from 127.0.0.1:4002")
    health.record_update("ibkr")
    assert not health.is_healthy("ibkr")
    health.mark_up("ibkr")
    assert health.is_healthy("ibkr")


def test_snapshot_has_the_status_route_shape(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    health.register("price_updates")
    clock.advance_by(timedelta(hours=1))
    health.record_update("price_updates")
    health.record_recovery_attempt("price_updates")
    snap = health.snapshot()["price_updates"]
    assert snap["last_update"] == "2024-12-19T12:00:00.000Z"
    assert snap["started_at"] == "2024-12-19T11:00:00.000Z"
    assert snap["error_count"] == 0
    assert snap["recovery_attempts"] == 1
    assert snap["is_healthy"] is True


def test_two_monitors_share_nothing(clock: HistoricalScheduler) -> None:
    a, b = HealthMonitor(clock), HealthMonitor(clock)
    a.record_error("s", "x")
    assert b.streams == []


# --- staleness per stream --------------------------------------------------------------------


def test_an_event_stream_declared_quiet_is_never_stale(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock)
    health.register("trade_executions", stale_after=None)
    health.register("price_updates")
    clock.advance_by(timedelta(hours=8))
    assert health.check() == {"trade_executions": True, "price_updates": False}
    for _ in range(10):  # quiet is fine; erroring is not
        health.record_error("trade_executions", "fill without execution")
    assert not health.is_healthy("trade_executions")
    health.mark_down("price_updates", "broker disconnected")
    health.register("trade_executions", stale_after=None)
    health.record_update("trade_executions")
    assert health.is_healthy("trade_executions")


def test_a_stream_may_declare_its_own_staleness(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock, stale_after=300)
    health.register("bars_1m", stale_after=90)
    clock.advance_by(timedelta(seconds=89))
    assert health.is_healthy("bars_1m")
    clock.advance_by(timedelta(seconds=1))
    assert not health.is_healthy("bars_1m")
    assert health.snapshot()["bars_1m"]["stale_after"] == 90.0


def test_overrides_by_name_win_over_the_declaration(clock: HistoricalScheduler) -> None:
    health = HealthMonitor(clock, stale_after=300, overrides={"signals": 60, "price_updates": None})
    health.register("signals", stale_after=None)
    health.register("price_updates")
    health.record_error("unregistered_yet", "boom")  # a stream first seen through an error gets its override too
    clock.advance_by(timedelta(seconds=61))
    assert health.check() == {"signals": False, "price_updates": True, "unregistered_yet": True}
    assert health.snapshot()["signals"]["stale_after"] == 60.0
    assert health.snapshot()["price_updates"]["stale_after"] is None


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e300, "soon", True])
def test_a_staleness_that_cannot_hold_is_refused(clock: HistoricalScheduler, bad: object) -> None:
    with pytest.raises(ConfigError, match="stale_after"):
        HealthMonitor(clock, stale_after=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stale_after for s"):
        HealthMonitor(clock).register("s", stale_after=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stale_after for s"):
        HealthMonitor(clock, overrides={"s": bad})  # type: ignore[dict-item]


def test_an_unknown_stream_is_named(clock: HistoricalScheduler) -> None:
    from rxstream.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown stream 'nope'"):
        HealthMonitor(clock).is_healthy("nope")


def test_the_shipped_event_streams_stay_healthy_when_quiet_and_prices_go_stale() -> None:
    """The engine passes each pipeline's declaration, and the server's overrides, to the monitor."""
    from rxstream import Engine, ReplayScheduler, load_pipelines
    from rxstream.pipelines import builtin_pipelines_dir

    pipelines = load_pipelines(builtin_pipelines_dir())
    clock = ReplayScheduler(START)
    engine = Engine(pipelines=pipelines, scheduler=clock, publish=False, stale_overrides={"ma_crossover": None})
    engine.start()
    assert engine.health is not None
    clock.advance_to(START + timedelta(minutes=10))  # ten quiet minutes: no tick, no signal, no fill
    health = engine.health.check()
    assert health.items() >= {
        "price_updates": False,  # should tick
        "bars_1m": False,  # no ticks, no bars: stale like the prices it is made of
        "portfolio_updates": True,
        "signals": True,
        "trade_executions": True,
        "ma_crossover": True,  # overridden
    }.items()
    engine.stop()


async def test_the_server_setting_reaches_the_health_monitor() -> None:
    from rxstream.settings import Settings
    from rxstream.wiring import engine_backend

    settings = Settings.load(env={"RXSTREAM_STREAM_STALE_AFTER": "signals=120,price_updates=never"})
    assert settings.stale_overrides() == {"signals": 120.0, "price_updates": None}
    engine = engine_backend(settings).engine
    engine.start()
    try:
        assert engine.health is not None
        assert engine.health.get("signals").stale_after == timedelta(seconds=120)
        assert engine.health.get("price_updates").stale_after is None
        assert engine.health.get("trade_executions").stale_after is None  # as its pipeline declares
    finally:
        engine.stop()
    with pytest.raises(ConfigError, match="stream_stale_after"):
        Settings(stream_stale_after=("signals=soon",))
    with pytest.raises(ConfigError, match="stream_stale_after"):
        Settings(stream_stale_after=("=60",))


def test_docstring_examples() -> None:
    import doctest

    import rxstream.health

    assert doctest.testmod(rxstream.health).failed == 0
