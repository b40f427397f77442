"""The feed's health streams in virtual time: down with the reason, up again, a recovered error shown with its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reactivex.scheduler import HistoricalScheduler

from rxstream.health import HealthMonitor
from rxstream.ibkr.streams import FeedHealth

T0 = datetime(2024, 12, 19, 11, 0, tzinfo=UTC)
STREAMS = ("ibkr.ticks", "ibkr.positions", "ibkr.fills")


def setup() -> tuple[HistoricalScheduler, HealthMonitor, FeedHealth]:
    clock = HistoricalScheduler(T0)
    monitor = HealthMonitor(clock)
    return clock, monitor, FeedHealth(monitor, "ibkr")


def test_registers_its_three_streams_under_the_prefix() -> None:
    _, monitor, health = setup()
    assert monitor.streams == list(STREAMS) == list(health.names)
    other = FeedHealth(HealthMonitor(HistoricalScheduler(T0)), "gw2")
    assert other.names == ("gw2.ticks", "gw2.positions", "gw2.fills")


def test_a_recovered_error_is_shown_with_its_time_never_as_current() -> None:
    clock, monitor, health = setup()
    health.show(down="not connected to 127.0.0.1:7497")
    clock.advance_by(timedelta(seconds=3))
    health.error("cannot connect to 127.0.0.1:7497: refused")
    health.show(down="cannot connect to 127.0.0.1:7497: refused")
    clock.advance_by(timedelta(seconds=2))
    health.show(down="cannot connect to 127.0.0.1:7497: refused")  # shown again: still the same error, same time
    clock.advance_by(timedelta(seconds=1))
    health.show()  # connected
    health.link_alive()
    status = monitor.snapshot()
    for name in STREAMS:
        assert status[name]["is_healthy"], name
        assert status[name]["last_error"] == "cannot connect to 127.0.0.1:7497: refused"
        assert status[name]["last_error_at"] == "2024-12-19T11:00:03.000Z"
    assert status["ibkr.fills"]["last_update"] == "2024-12-19T11:00:06.000Z"  # after the error: recovered


def test_farm_down_touches_ticks_only_and_link_alive_keeps_quiet_streams_fresh() -> None:
    clock, monitor, health = setup()
    health.show(ticks_down="2103: market data farm disconnected")
    assert monitor.check() == {"ibkr.ticks": False, "ibkr.positions": True, "ibkr.fills": True}
    assert monitor.get("ibkr.ticks").last_error_at == T0
    clock.advance_by(timedelta(minutes=4))
    health.link_alive()
    clock.advance_by(timedelta(minutes=4))  # 8 minutes without a position or a fill: quiet, not stale
    health.show()
    assert monitor.check() == {"ibkr.ticks": False, "ibkr.positions": True, "ibkr.fills": True}  # ticks: stale
    health.ticks_updated()
    assert all(monitor.check().values())
