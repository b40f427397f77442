"""The fill gate in virtual time: once per exec id, with its commission or after the wait without."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reactivex.testing import TestScheduler

from rxstream.events import Fill
from rxstream.ibkr.api import CommissionReport, Execution, Forex
from rxstream.ibkr.api import Fill as IBFill
from rxstream.ibkr.fills import FillGate

NOW = datetime(2020, 1, 1, 22, 0, 5, tzinfo=UTC)
WAIT = 2.0


def execution(exec_id: str, commission: float | None = None) -> IBFill:
    report = CommissionReport(exec_id, commission, "USD") if commission is not None else CommissionReport()
    done = Execution(execId=exec_id, time=NOW, acctNumber="DU1", side="BOT", shares=1000.0, price=1.1214, orderId=7)
    return IBFill(Forex("EURUSD"), done, report, NOW)


class Gate:
    """A gate on a TestScheduler (virtual seconds), with what it published."""

    def __init__(self, capacity: int = 100) -> None:
        self.scheduler = TestScheduler()
        self.out: list[Fill] = []
        self.gate = FillGate(self.out.append, scheduler=self.scheduler, wait=WAIT, capacity=capacity)

    def at(self, seconds: float) -> None:
        self.scheduler.advance_to(seconds)

    @property
    def published(self) -> list[tuple[str, float | None]]:
        return [(f.exec_id, f.commission) for f in self.out]


@pytest.fixture
def g() -> Gate:
    return Gate()


def test_an_execution_with_its_commission_is_published_at_once(g: Gate) -> None:
    g.gate.offer(execution("e1", 2.0))
    assert g.published == [("e1", 2.0)] and g.gate.published == 1
    fill = g.out[0]
    assert (fill.symbol, fill.side, fill.quantity, fill.price, fill.order_id, fill.time) == (
        "EURUSD", "BUY", 1000.0, 1.1214, 7, NOW
    )


def test_the_commission_report_releases_a_waiting_execution(g: Gate) -> None:
    g.gate.offer(execution("e1"))
    g.at(1.0)
    assert g.published == [] and g.gate.waiting == ["e1"]
    g.gate.commission(execution("e1"), 2.5)
    assert g.published == [("e1", 2.5)] and g.gate.waiting == []
    g.at(10.0)  # the wait's timer was cancelled
    assert g.published == [("e1", 2.5)]


def test_without_a_report_it_is_published_when_the_wait_ends(g: Gate, caplog: pytest.LogCaptureFixture) -> None:
    g.gate.offer(execution("e1"))
    g.at(WAIT - 0.001)
    assert g.published == []
    g.at(WAIT)
    assert g.published == [("e1", None)]
    assert "no commission report for execution e1" in caplog.text
    g.gate.commission(execution("e1"), 2.0)  # too late: already published
    assert g.published == [("e1", None)]


def test_each_wait_is_its_own(g: Gate) -> None:
    g.gate.offer(execution("e1"))
    g.at(1.5)
    g.gate.offer(execution("e2"))
    g.at(WAIT)
    assert g.published == [("e1", None)]
    g.at(1.5 + WAIT)
    assert g.published == [("e1", None), ("e2", None)]


def test_resent_executions_are_never_published_twice(g: Gate) -> None:
    g.gate.offer(execution("e1", 2.0))
    g.gate.offer(execution("e2"))
    for _ in range(3):  # a reconnect resends the day's executions, with or without reports
        g.gate.offer(execution("e1", 2.0))
        g.gate.offer(execution("e1"))
        g.gate.offer(execution("e2"))
    g.gate.commission(execution("e1"), 2.0)
    g.at(WAIT)
    assert g.published == [("e1", 2.0), ("e2", None)]


def test_a_report_for_an_execution_not_seen_yet_publishes_it(g: Gate) -> None:
    g.gate.commission(execution("e9"), 1.0)
    g.gate.offer(execution("e9"))
    assert g.published == [("e9", 1.0)]


def test_memory_is_bounded_to_capacity() -> None:
    g = Gate(capacity=2)
    for exec_id in ("e1", "e2", "e3"):
        g.gate.offer(execution(exec_id, 1.0))
    g.gate.offer(execution("e3", 1.0))
    g.gate.offer(execution("e2", 1.0))
    assert g.published == [("e1", 1.0), ("e2", 1.0), ("e3", 1.0)]
    g.gate.offer(execution("e1", 1.0))  # forgotten: the oldest of three with room for two
    assert [e for e, _ in g.published] == ["e1", "e2", "e3", "e1"]


def test_flush_publishes_every_waiting_execution_now(g: Gate) -> None:
    g.gate.offer(execution("e1"))
    g.gate.offer(execution("e2"))
    g.gate.flush()
    assert g.published == [("e1", None), ("e2", None)] and g.gate.waiting == []
    g.at(WAIT * 2)
    assert len(g.published) == 2
