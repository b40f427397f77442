"""The replay's virtual clock: a reactivex scheduler whose time the replayed events set.

:class:`ReplayScheduler` is a complete reactivex scheduler (``schedule``,
``schedule_relative``, ``schedule_absolute``, ``schedule_periodic``, and
``advance_to``/``advance_by`` like reactivex's ``HistoricalScheduler``), built
only on reactivex's public scheduler base, so no reactivex internal is touched.
Its clock is a UTC :class:`~datetime.datetime`; its timers sit in a heap keyed
by ``(due time, arrival)`` tuples that compare in C.

A replay moves it with :meth:`ReplayScheduler.advance_clock`, one call per
event: when no timer is due (most events) that is one comparison and one
assignment; due timers run first, each at its own time.

>>> from datetime import UTC, datetime, timedelta
>>> clock = ReplayScheduler(datetime(2020, 1, 1, tzinfo=UTC))
>>> timer = clock.schedule_relative(5, lambda scheduler, state: print("due at", scheduler.now.time()))
>>> clock.next_due
datetime.datetime(2020, 1, 1, 0, 0, 5, tzinfo=datetime.timezone.utc)
>>> clock.advance_clock(datetime(2020, 1, 1, 0, 0, 9, tzinfo=UTC))
due at 00:00:05
>>> clock.now.time(), clock.next_due is NEVER
(datetime.time(0, 0, 9), True)
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime
from typing import Any

from reactivex import abc, typing
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["NEVER", "ReplayScheduler"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)
"""``next_due`` when no timer is pending."""


class _Timer(list[Any], abc.DisposableBase):
    """A scheduled action and its own heap entry: ``[due, arrival, action, state, result]``.

    Lists compare item by item in C, so the heap orders timers by due time,
    then arrival (unique: the rest is never compared); built in C, no ``__init__``.
    Cancelling clears the action.
    """

    __slots__ = ()

    def dispose(self) -> None:
        """Cancel the action (and dispose what it returned, if it ran)."""
        self[2] = None
        if isinstance(self[4], abc.DisposableBase):
            self[4].dispose()


class ReplayScheduler(PeriodicScheduler):
    """A virtual-time scheduler whose clock a replay moves forward event by event.

    Use it from one thread (the replay's): it takes no lock.

    Attributes:
        now: The virtual time. A plain attribute, since time-based operators read
            it on every event. Move it with :meth:`advance_clock`; assigning a
            later time directly is allowed only while it is before ``next_due``
            (no timer is skipped): a replay's fast path for most events.
        next_due: When the earliest pending timer is due (cancelled ones
            included), or :data:`NEVER`: a replay compares each event's time with it.
    """

    now: datetime = EPOCH  # overrides the abstract property with a plain attribute
    next_due: datetime = NEVER

    def __init__(self, initial_clock: datetime | None = None) -> None:
        super().__init__()
        self.now = initial_clock or EPOCH
        self.next_due = NEVER
        self._timers: list[_Timer] = []
        self._arrivals = 0

    def __repr__(self) -> str:
        return f"ReplayScheduler(now={self.now.isoformat()}, timers={len(self._timers)})"

    # --- scheduling -----------------------------------------------------------------

    def schedule(self, action: abc.ScheduledAction[Any], state: Any = None) -> abc.DisposableBase:
        """Run ``action`` at the current time, on the next move of the clock."""
        return self.schedule_absolute(self.now, action, state)

    def schedule_relative(
        self, duetime: typing.RelativeTime, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        """Run ``action`` ``duetime`` (seconds or a timedelta) from now."""
        return self.schedule_absolute(self.now + self.to_timedelta(duetime), action, state)

    def schedule_absolute(
        self, duetime: typing.AbsoluteTime, action: abc.ScheduledAction[Any], state: Any = None
    ) -> abc.DisposableBase:
        """Run ``action`` when the clock reaches ``duetime``; dispose the result to cancel."""
        when = duetime if type(duetime) is datetime else self.to_datetime(duetime)
        timer = _Timer((when, self._arrivals, action, state, None))
        heapq.heappush(self._timers, timer)
        self._arrivals += 1
        if when < self.next_due:
            self.next_due = when
        return timer

    # --- moving the clock -----------------------------------------------------------

    def advance_clock(self, time: datetime) -> None:
        """Move the clock to ``time``, running the timers due by then, each at its own time.

        The clock never goes back: an earlier ``time`` runs nothing and leaves it where it is.
        """
        if time >= self.next_due:  # run the timers due by then in due order (and those they schedule)
            timers = self._timers
            pop = heapq.heappop
            while timers and timers[0][0] <= time:
                timer = pop(timers)
                due, _, action, state, _ = timer
                if due > self.now:
                    self.now = due
                if action is not None:
                    timer[4] = action(self, state)
            if timers:
                self.next_due = timers[0][0]
            else:
                self.next_due = NEVER
                self._arrivals = 0
        if time > self.now:
            self.now = time

    def advance_to(self, time: typing.AbsoluteTime) -> None:
        """Like reactivex's ``VirtualTimeScheduler.advance_to``: run what is due, then set the clock."""
        self.advance_clock(self.to_datetime(time))

    def advance_by(self, time: typing.RelativeTime) -> None:
        """Advance the clock by ``time`` (seconds or a timedelta)."""
        self.advance_clock(self.now + self.to_timedelta(time))

    def run_all(self) -> None:
        """Run every pending timer (and those they schedule), moving the clock to each."""
        while self._timers:
            self.advance_clock(self._timers[0][0])
