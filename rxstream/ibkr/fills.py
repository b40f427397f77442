"""The fill gate: each execution published once, with its commission when TWS sends one in time.

TWS reports an execution (``execDetailsEvent``) and, separately and a little
later, its commission (``commissionReportEvent``); after every reconnect it
resends the day's executions. :class:`FillGate` turns that into one
:class:`~rxstream.events.Fill` per exec id:

* an execution that already carries its commission is published at once;
* otherwise it waits up to ``wait`` seconds for the report, then is published
  without one (``commission`` ``None``);
* an exec id published (or waiting) is never published again; the last
  ``capacity`` published ids are remembered.

Time comes from a reactivex scheduler handed in (the engine's clock live, a
``TestScheduler`` in tests), so the wait is tested in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from reactivex.abc import DisposableBase, SchedulerBase

from ..events import Fill
from .api import IB
from .api import Fill as IBFill
from .contracts import commission_of, fill_from

__all__ = ["FillGate", "recover_fills"]

log = logging.getLogger(__name__)


class FillGate:
    """Dedupes executions by exec id and waits for their commission; ``publish`` gets each fill once.

    Args:
        publish: called with each :class:`~rxstream.events.Fill`, once per exec id.
        scheduler: the clock the commission wait runs on.
        wait: seconds an execution waits for its commission report.
        capacity: how many published exec ids are remembered.

    Attributes:
        published: how many fills were published.
    """

    def __init__(
        self, publish: Callable[[Fill], None], *, scheduler: SchedulerBase, wait: float, capacity: int
    ) -> None:
        self._publish = publish
        self._scheduler = scheduler
        self._wait = timedelta(seconds=wait)
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._pending: dict[str, tuple[DisposableBase, IBFill]] = {}
        self.published = 0

    def __repr__(self) -> str:
        return f"FillGate(published={self.published}, waiting={len(self._pending)})"

    @property
    def waiting(self) -> list[str]:
        """Exec ids waiting for their commission report, oldest first."""
        return list(self._pending)

    def offer(self, fill: IBFill) -> None:
        """An execution (new, resent or recovered): publish it, or wait for its commission."""
        exec_id = fill.execution.execId
        if exec_id in self._seen or exec_id in self._pending:
            return
        commission = commission_of(fill.commissionReport)
        if commission is not None:
            self._emit(fill, commission)
            return
        timer = self._scheduler.schedule_relative(self._wait, lambda _s, _st: self._expire(exec_id))
        self._pending[exec_id] = (timer, fill)

    def commission(self, fill: IBFill, commission: float | None) -> None:
        """A commission report arrived for ``fill``: publish it now (unless already published)."""
        exec_id = fill.execution.execId
        pending = self._pending.pop(exec_id, None)
        if pending is not None:
            pending[0].dispose()
        if exec_id not in self._seen:
            self._emit(fill, commission)

    def flush(self) -> None:
        """Publish every waiting execution now, with whatever commission it has (the feed is stopping)."""
        for exec_id in list(self._pending):
            self._expire(exec_id)

    def _expire(self, exec_id: str) -> None:
        pending = self._pending.pop(exec_id, None)
        if pending is None:
            return
        timer, fill = pending
        timer.dispose()
        commission = commission_of(fill.commissionReport)
        if commission is None:
            log.warning("IBKR: no commission report for execution %s; publishing without", exec_id)
        self._emit(fill, commission)

    def _emit(self, fill: IBFill, commission: float | None) -> None:
        seen = self._seen
        seen[fill.execution.execId] = None
        if len(seen) > self._capacity:
            seen.popitem(last=False)
        self.published += 1
        self._publish(fill_from(fill, commission))


async def recover_fills(ib: IB, gate: FillGate, timeout: float) -> None:
    """Ask TWS for the day's executions again and offer each to ``gate`` (fills made during an outage).

    The library's own fill objects are preferred: they carry commission reports
    that arrived with the reply.
    """
    async with asyncio.timeout(timeout):
        returned: Iterable[Any] = await ib.reqExecutionsAsync()
    canonical = {f.execution.execId: f for f in ib.fills()}
    for fill in returned:
        gate.offer(canonical.get(fill.execution.execId, fill))
    for fill in canonical.values():
        gate.offer(fill)
