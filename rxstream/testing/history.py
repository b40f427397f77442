"""Historical bars for the simulator: TWS's request vocabulary, and bars built from the tick file.

Pure: no sockets. :class:`TickHistory` keeps every tick the simulator can
serve history from (the tick file, read once on the first historical request,
plus ticks pushed by tests) and the simulator's clock; :func:`build_bars`
turns ticks into bars with the ``ohlc`` operator, run in virtual time on a
:class:`~reactivex.scheduler.HistoricalScheduler` that follows the ticks'
own timestamps, so history and live bars come from one implementation.

The clock: bars keep the tick file's times. An empty ``endDateTime`` ("now")
is the time of the last tick the simulator streamed or pushed; before any
was (no client has subscribed to market data yet), it is the end of the
file, so the whole recorded session is history.

>>> parse_bar_size("1 hour"), parse_duration("2 D")
(datetime.timedelta(seconds=3600), datetime.timedelta(days=2))
>>> parse_end("20200102 03:00:00 UTC", None)
datetime.datetime(2020, 1, 2, 3, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reactivex import Observable
from reactivex.scheduler import HistoricalScheduler
from reactivex.subject import Subject

from ..events import Bar, Tick
from ..operators import ohlc

__all__ = [
    "BAR_SIZES",
    "WHAT_TO_SHOW",
    "LiveBars",
    "Plan",
    "Reject",
    "SidedBar",
    "TickHistory",
    "bar_date",
    "build_bars",
    "parse_bar_size",
    "parse_duration",
    "parse_end",
    "plan",
]

_SECOND = timedelta(seconds=1)
BAR_SIZES: dict[str, timedelta] = {
    **{f"{n} secs": n * _SECOND for n in (1, 5, 10, 15, 30)},
    "1 min": timedelta(minutes=1),
    **{f"{n} mins": timedelta(minutes=n) for n in (2, 3, 5, 10, 15, 20, 30)},
    "1 hour": timedelta(hours=1),
    **{f"{n} hours": timedelta(hours=n) for n in (2, 3, 4, 8)},
    "1 day": timedelta(days=1),
}
"""The bar sizes the simulator serves (TWS's names; also ``1 sec``, ``1 mins``, ``1 hours``)."""

_PRICES: dict[str, Callable[[Tick], float | None]] = {
    "MIDPOINT": lambda t: t.mid if t.bid is not None and t.ask is not None else None,
    "BID": lambda t: t.bid,
    "ASK": lambda t: t.ask,
    "TRADES": lambda t: t.last,
}
WHAT_TO_SHOW = (*_PRICES, "BID_ASK")
"""The ``whatToShow`` kinds served: BID_ASK bars open at the bid, high at the highest ask, low at the
lowest bid, close at the ask."""

_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_DURATION_UNITS = {"S": timedelta(seconds=1), "D": timedelta(days=1), "W": timedelta(weeks=1),
                   "M": timedelta(days=30), "Y": timedelta(days=365)}


class Reject(NamedTuple):
    """TWS's error for a historical-data request it would refuse."""

    code: int
    message: str


class Plan(NamedTuple):
    """A valid historical-data request: bars of ``step`` and ``what`` over ticks in ``[start, end]``."""

    step: timedelta
    start: datetime
    end: datetime
    what: str


def _invalid(what: str, text: str) -> Reject:
    return Reject(162, f"Historical Market Data Service error message:invalid {what} '{text}'")


def parse_bar_size(text: str) -> timedelta | None:
    """``"5 secs"`` → 5 s; ``None`` for a size not in :data:`BAR_SIZES`."""
    name = " ".join(text.split()).lower()
    name = {"1 sec": "1 secs", "1 mins": "1 min", "1 hours": "1 hour", "1 days": "1 day"}.get(name, name)
    return BAR_SIZES.get(name)


def parse_duration(text: str) -> timedelta | None:
    """``"1800 S"``, ``"2 D"``, ``"1 W"``, ``"1 M"`` (30 days), ``"1 Y"`` (365 days); ``None`` if malformed."""
    match = _DURATION.match(text.upper())
    if match is None or int(match[1]) <= 0:
        return None
    return int(match[1]) * _DURATION_UNITS[match[2]]


def parse_end(text: str, now: datetime | None) -> datetime | None:
    """``endDateTime`` as a UTC time: ``""`` is ``now``; ``YYYYMMDD HH:MM:SS [zone]`` or
    ``YYYYMMDD-HH:MM:SS`` (UTC); a time without zone is read as UTC, the simulator's zone.
    ``None`` if malformed (or empty with no ``now``)."""
    text = text.strip()
    if not text:
        return now
    date, _, rest = text.replace("-", " ", 1).partition(" ")
    clock, _, zone = rest.strip().partition(" ")
    zone = zone.strip()
    try:
        naive = datetime.strptime(f"{date} {clock or '00:00:00'}", "%Y%m%d %H:%M:%S")
        tz = ZoneInfo(zone) if zone and zone != "UTC" else UTC
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return naive.replace(tzinfo=tz).astimezone(UTC)


def plan(bar_size: str, duration: str, end: str, what: str, now: datetime | None) -> Plan | Reject:
    """Check a request and work out its tick range: ``[end - duration, end]``, ``end`` "now" when empty."""
    step = parse_bar_size(bar_size)
    if step is None:
        return _invalid("bar size setting", bar_size)
    span = parse_duration(duration)
    if span is None:
        return _invalid("duration", duration)
    if what.upper() not in WHAT_TO_SHOW:
        return Reject(162, f"Historical Market Data Service error message:invalid what to show '{what}'")
    stop = parse_end(end, now)
    if stop is None:
        if end.strip():
            return _invalid("end date/time", end)
        return Reject(162, "Historical Market Data Service error message:HMDS query returned no data")
    return Plan(step, stop - span, stop, what.upper())


def bar_date(start: datetime, step: timedelta, format_date: int) -> str:
    """A bar's ``date`` as TWS writes it: ``YYYYMMDD`` for daily bars, else epoch seconds
    (``formatDate`` 2) or ``YYYYMMDD HH:MM:SS UTC``."""
    if step >= timedelta(days=1):
        return start.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(start.timestamp()))
    return start.strftime("%Y%m%d %H:%M:%S UTC")


class SidedBar(NamedTuple):
    """A bar of one ``whatToShow`` kind: the ``ohlc`` operator's bar, or a bid bar and an ask bar merged."""

    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    ticks: int


def _items(what: str) -> tuple[Callable[[Tick], Iterable[tuple[str, float]]], bool]:
    """How a tick becomes (side, price) items for ``ohlc``, and whether bid and ask bars must be merged."""
    if what == "BID_ASK":
        def both(t: Tick) -> Iterable[tuple[str, float]]:
            return [] if t.bid is None or t.ask is None else [("bid", t.bid), ("ask", t.ask)]
        return both, True
    price = _PRICES[what]

    def one(t: Tick) -> Iterable[tuple[str, float]]:
        p = price(t)
        return [] if p is None else [("", p)]
    return one, False


def _merge(bars: list[Bar], sided: bool) -> list[SidedBar]:
    if not sided:
        return [SidedBar(b.start, b.end, b.open, b.high, b.low, b.close, b.ticks) for b in bars]
    by_start: dict[datetime, dict[str, Bar]] = {}
    for b in bars:
        by_start.setdefault(b.start, {})[b.symbol] = b
    return [
        SidedBar(start, pair["bid"].end, pair["bid"].open, pair["ask"].high, pair["bid"].low, pair["ask"].close,
                 pair["bid"].ticks)
        for start, pair in by_start.items()
    ]


def _side(item: tuple[str, float]) -> str:
    return item[0]


def _price(item: tuple[str, float]) -> float:
    return item[1]


class LiveBars:
    """Bars of one ``whatToShow`` kind, fed tick by tick in the ticks' own time; emits each bar as its window closes.

    The ``ohlc`` operator runs on a :class:`~reactivex.scheduler.HistoricalScheduler` that is advanced to
    each tick's time before the tick goes in; :meth:`close` ends the source, emitting the open window's
    partial bar.
    """

    def __init__(self, step: timedelta, what: str, start: datetime, on_bar: Callable[[SidedBar], None]) -> None:
        self._items, self._sided = _items(what)
        self._scheduler = HistoricalScheduler(start)
        self._subject: Subject[tuple[str, float]] = Subject()
        self._pending: list[Bar] = []
        self.on_bar = on_bar
        """Called with each bar as its window closes (may be replaced)."""
        bars: Callable[[Observable[tuple[str, float]]], Observable[Bar]] = ohlc(
            step, key=_side, price=_price, scheduler=self._scheduler
        )
        self._subscription = self._subject.pipe(bars).subscribe(self._collect)

    def _collect(self, bar: Bar) -> None:
        self._pending.append(bar)
        if not self._sided or len(self._pending) == 2:
            for merged in _merge(self._pending, self._sided):
                self.on_bar(merged)
            self._pending.clear()

    def add(self, tick: Tick) -> None:
        """Take ``tick``; a tick older than the clock (a looping replay starting over) is skipped."""
        if tick.time < self._scheduler.now:
            return
        self._scheduler.advance_to(tick.time)
        for item in self._items(tick):
            self._subject.on_next(item)

    def close(self) -> None:
        """End the ticks: the open window's bar, if any, is emitted."""
        self._subject.on_completed()
        self._subscription.dispose()


def build_bars(ticks: Sequence[Tick], step: timedelta, what: str) -> list[SidedBar]:
    """Bars of ``what`` over ``ticks`` (oldest first), windows aligned to multiples of ``step`` since the epoch;
    the last window's bar is partial if the ticks end inside it."""
    if not ticks:
        return []
    out: list[SidedBar] = []
    live = LiveBars(step, what, ticks[0].time, out.append)
    for tick in ticks:
        live.add(tick)
    live.close()
    return out


class TickHistory:
    """The ticks history is served from, per symbol, and the simulator's clock.

    Args:
        source: the tick file's events (a function returning a fresh iterable, or a sequence), read on
            first use; an iterator that can be read only once is not kept (streaming consumes it).
    """

    def __init__(self, source: Callable[[], Iterable[Any]] | Iterable[Any] | None) -> None:
        self._source = source
        self._loaded = source is None or not (callable(source) or isinstance(source, Sequence))
        self._times: dict[str, list[datetime]] = {}
        self._ticks: dict[str, list[Tick]] = {}
        self.clock: datetime | None = None
        """The time of the last tick streamed or pushed; ``None`` before the first."""

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        source = self._source
        for event in source() if callable(source) else source:  # type: ignore[union-attr]
            if isinstance(event, Tick):
                self.add(event)

    def add(self, tick: Tick) -> None:
        """Keep ``tick`` (a tick pushed by a test; the file's ticks are read by themselves)."""
        times = self._times.setdefault(tick.symbol, [])
        ticks = self._ticks.setdefault(tick.symbol, [])
        if not times or tick.time >= times[-1]:
            times.append(tick.time)
            ticks.append(tick)
        else:
            at = bisect.bisect_right(times, tick.time)
            times.insert(at, tick.time)
            ticks.insert(at, tick)

    def now(self) -> datetime | None:
        """"Now" on the simulator's clock: the last tick sent, or the end of the file before any was."""
        if self.clock is not None:
            return self.clock
        self._load()
        ends = [times[-1] for times in self._times.values() if times]
        return max(ends) if ends else None

    def last(self, symbol: str) -> Tick | None:
        """``symbol``'s latest tick at or before :meth:`now` (the market on the simulator's clock)."""
        now = self.now()
        times = self._times.get(symbol)
        if now is None or not times:
            return None
        at = bisect.bisect_right(times, now)
        return self._ticks[symbol][at - 1] if at else None

    def first(self, symbol: str) -> datetime | None:
        """The time of ``symbol``'s first tick."""
        self._load()
        times = self._times.get(symbol)
        return times[0] if times else None

    def ticks(self, symbol: str, start: datetime, end: datetime) -> list[Tick]:
        """``symbol``'s ticks with ``start <= time <= end``, oldest first."""
        self._load()
        times = self._times.get(symbol, [])
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, end)
        return self._ticks.get(symbol, [])[lo:hi]
