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
