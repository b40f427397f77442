"""The replay's virtual clock: a reactivex scheduler whose time the replayed events set.

:class:`ReplayScheduler` is a complete reactivex scheduler (``schedule``,
``schedule_relative``, ``schedule_absolute``, ``schedule_periodic``, and
``advance_to``/``advance_by`` like reactivex's ``HistoricalScheduler``), built
only on reactivex's public scheduler base, so no reactivex internal is touched.
Its clock is a UTC :class:`~datetime.datetime`; its timers are plain lists
ordered by ``(due time, arrival)``, compared in C: most wait in a queue in that
order, the few scheduled out of order in a heap. Hot operators (conflation)
schedule with :meth:`ReplayScheduler.add_timer`, which builds no disposable.

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

from collections import deque
from datetime import UTC, datetime
from heapq import heappop as _heappop
from heapq import heappush as _heappush
from typing import Any, TypeAlias

from reactivex import abc, typing
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["NEVER", "ReplayScheduler", "TimerEntry"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)
"""``next_due`` when no timer is pending."""


TimerEntry: TypeAlias = list[Any]
"""A pending timer: ``[due, arrival, action, state, result]``, a plain list.

Lists compare item by item in C, so timers order by due time, then arrival
(unique: the rest is never compared). Cancelling clears the action.
"""


def _cancel(entry: TimerEntry) -> None:
    entry[2] = None
    if isinstance(entry[4], abc.DisposableBase):
        entry[4].dispose()


class _Timer(tuple[TimerEntry], abc.DisposableBase):
    """What :meth:`ReplayScheduler.schedule_absolute` returns: ``(entry,)``; disposing it cancels the timer."""

    __slots__ = ()

    def dispose(self) -> None:
        """Cancel the action (and dispose what it returned, if it ran)."""
        _cancel(self[0])


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

    Timers are kept in two places, together ordered by ``(due, arrival)``: a
    queue of the timers scheduled no earlier than the last one queued (most of
    them: a window that opens now ends after those opened before it), taken
    from its front without a comparison, and a heap for the others.
    """

    now: datetime = EPOCH  # overrides the abstract property with a plain attribute
    next_due: datetime = NEVER

    def __init__(self, initial_clock: datetime | None = None) -> None:
        super().__init__()
        self.now = initial_clock or EPOCH
        self.next_due = NEVER
        self._queue: deque[TimerEntry] = deque()  # in (due, arrival) order
        self._heap: list[TimerEntry] = []  # the timers that were due before the queue's last
        self._arrivals = 0

    def __repr__(self) -> str:
        return f"ReplayScheduler(now={self.now.isoformat()}, timers={len(self._queue) + len(self._heap)})"

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
        return _Timer((self.add_timer(when, action, state),))

    def add_timer(self, due: datetime, action: abc.ScheduledAction[Any], state: Any = None) -> TimerEntry:
        """:meth:`schedule_absolute` for a hot operator: ``due`` is a datetime, and the result is
        the timer's entry (no disposable is built), cancelled with :meth:`cancel_timer`."""
        entry = [due, self._arrivals, action, state, None]
        self._arrivals += 1
        queue = self._queue
        if not queue or due >= queue[-1][0]:  # in order: a later arrival, no earlier
            queue.append(entry)
        else:
            _heappush(self._heap, entry)
        if due < self.next_due:
            self.next_due = due
        return entry

    @staticmethod
    def cancel_timer(entry: TimerEntry) -> None:
        """Cancel a timer from :meth:`add_timer` (and dispose what its action returned, if it ran)."""
        _cancel(entry)

    # --- moving the clock -----------------------------------------------------------

    def advance_clock(self, time: datetime) -> None:
        """Move the clock to ``time``, running the timers due by then, each at its own time.

        The clock never goes back: an earlier ``time`` runs nothing and leaves it where it is.
        """
        if time >= self.next_due:  # run the timers due by then in due order (and those they schedule)
            queue, heap = self._queue, self._heap
            while True:
                if heap and (not queue or heap[0] < queue[0]):
                    if heap[0][0] > time:
                        break
                    entry = _heappop(heap)
                elif queue and queue[0][0] <= time:
                    entry = queue.popleft()
                else:
                    break
                due, _, action, state, _ = entry
                if due > self.now:
                    self.now = due
                if action is not None:
                    entry[4] = action(self, state)
            if queue:
                self.next_due = queue[0][0] if not heap or queue[0] < heap[0] else heap[0][0]
            elif heap:
                self.next_due = heap[0][0]
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
        while self.next_due is not NEVER:
            self.advance_clock(self.next_due)
