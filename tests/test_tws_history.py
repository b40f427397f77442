"""Historical bars, pure: TWS's request vocabulary, and bars checked against an independent computation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rxstream.events import Tick
from rxstream.testing.history import (
    LiveBars,
    Plan,
    Reject,
    SidedBar,
    TickHistory,
    bar_date,
    build_bars,
    parse_bar_size,
    parse_duration,
    parse_end,
    plan,
)
from rxstream.tickfile import read_events

T0 = datetime(2020, 1, 1, 22, tzinfo=UTC)


BarTuple = tuple[datetime, float, float, float, float, int]


def expected_bars(ticks: list[Tick], step: timedelta, what: str) -> list[BarTuple]:
    """Bars computed the plain way: group by window index, first/max/min/last."""
    seconds = step.total_seconds()
    groups: dict[int, list[tuple[float, float]]] = {}
    for t in ticks:
        if t.bid is None or t.ask is None:
            continue
        bid_ask = {"MIDPOINT": ((t.bid + t.ask) / 2,) * 2, "BID": (t.bid,) * 2, "ASK": (t.ask,) * 2,
                   "BID_ASK": (t.bid, t.ask)}[what]
        groups.setdefault(math.floor(t.time.timestamp() / seconds), []).append(bid_ask)
    out = []
    for index, prices in sorted(groups.items()):
        low_side = [p[0] for p in prices]
        high_side = [p[1] for p in prices]
        start = datetime.fromtimestamp(index * seconds, UTC)
        out.append((start, low_side[0], max(high_side), min(low_side), high_side[-1], len(prices)))
    return out


def as_tuples(bars: list[SidedBar]) -> list[BarTuple]:
    return [(b.start, b.open, b.high, b.low, b.close, b.ticks) for b in bars]


@pytest.fixture(scope="module")
def session_ticks() -> list[Tick]:
    from rxstream.tickfile import bundled_session

    return [e for e in read_events(bundled_session()) if isinstance(e, Tick)]


@pytest.mark.parametrize("size", ["1 secs", "5 secs", "30 secs", "1 min", "15 mins", "1 hour", "4 hours", "1 day"])
@pytest.mark.parametrize("what", ["MIDPOINT", "BID", "ASK", "BID_ASK"])
def test_bars_match_an_independent_computation(session_ticks: list[Tick], size: str, what: str) -> None:
    step = parse_bar_size(size)
    assert step is not None
    got = as_tuples(build_bars(session_ticks, step, what))
    want = expected_bars(session_ticks, step, what)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0] and g[5] == w[5]
        assert g[1:5] == pytest.approx(w[1:5], abs=1e-9)


def test_bar_end_is_the_window_end_and_the_last_bar_is_partial() -> None:
    ticks = [Tick("EURUSD", T0 + timedelta(seconds=s), bid, bid + 0.0002) for s, bid in ((1, 1.1), (2, 1.2), (61, 1.3),
                                                                                        (70, 1.4))]
    bars = build_bars(ticks, timedelta(minutes=1), "BID")
    assert [(b.start, b.end, b.open, b.close, b.ticks) for b in bars] == [
        (T0, T0 + timedelta(minutes=1), 1.1, 1.2, 2),
        (T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), 1.3, 1.4, 2),
    ]
    assert build_bars([], timedelta(minutes=1), "BID") == []


def test_one_sided_quotes_are_skipped_for_midpoint_but_count_for_their_side() -> None:
    ticks = [Tick("EURUSD", T0, 1.0, None), Tick("EURUSD", T0 + timedelta(seconds=1), 1.1, 1.2)]
    assert [b.ticks for b in build_bars(ticks, timedelta(minutes=1), "MIDPOINT")] == [1]
    assert [b.ticks for b in build_bars(ticks, timedelta(minutes=1), "BID")] == [2]


def test_trades_bars_use_the_last_price() -> None:
    ticks = [Tick("AAPL", T0, None, None, last=190.0), Tick("AAPL", T0 + timedelta(seconds=1), None, None, last=191.0)]
    (bar,) = build_bars(ticks, timedelta(minutes=1), "TRADES")
    assert (bar.open, bar.high, bar.low, bar.close) == (190.0, 191.0, 190.0, 191.0)


def test_live_bars_emit_each_window_as_it_closes() -> None:
    seen: list[SidedBar] = []
    live = LiveBars(timedelta(seconds=5), "MIDPOINT", T0, seen.append)
    for s, bid in ((0, 1.0), (3, 1.2), (5, 1.1), (12, 1.3)):
        live.add(Tick("EURUSD", T0 + timedelta(seconds=s), bid, bid))
        if s == 5:
            assert [(b.start, b.open, b.high, b.close) for b in seen] == [(T0, 1.0, 1.2, 1.2)]
    live.add(Tick("EURUSD", T0, 9.9, 9.9))  # older than the clock (a looping replay): skipped
    assert len(seen) == 2 and seen[1].start == T0 + timedelta(seconds=5) and seen[1].close == 1.1
    live.close()
    assert seen[2].start == T0 + timedelta(seconds=10) and seen[2].ticks == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1 secs", 1), ("1 sec", 1), ("5 secs", 5), ("1 min", 60), ("1 mins", 60), ("2 mins", 120), ("1 hour", 3600),
     ("1 hours", 3600), ("8 hours", 28800), ("1 day", 86400), ("  1   hour ", 3600)],
)
def test_bar_sizes(text: str, seconds: int) -> None:
    assert parse_bar_size(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["1 week", "7 secs", "", "hour", "1 month"])
def test_bar_sizes_not_served(text: str) -> None:
    assert parse_bar_size(text) is None


@pytest.mark.parametrize(
    ("text", "span"),
    [("1800 S", timedelta(seconds=1800)), ("30 D", timedelta(days=30)), ("2 W", timedelta(weeks=2)),
     ("1 M", timedelta(days=30)), ("1 Y", timedelta(days=365)), ("1 d", timedelta(days=1))],
)
def test_durations(text: str, span: timedelta) -> None:
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "30", "0 D", "-1 D", "1 X", "D 1"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20200102 03:00:00 UTC", datetime(2020, 1, 2, 3, tzinfo=UTC)),
     ("20200102 03:00:00", datetime(2020, 1, 2, 3, tzinfo=UTC)),
     ("20200102-03:00:00", datetime(2020, 1, 2, 3, tzinfo=UTC)),
     ("20200101 22:00:00 US/Eastern", datetime(2020, 1, 2, 3, tzinfo=UTC)),
     ("20200102", datetime(2020, 1, 2, tzinfo=UTC)),
     ("", T0)],
)
def test_end_times(text: str, expected: datetime) -> None:
    assert parse_end(text, T0) == expected


@pytest.mark.parametrize("text", ["yesterday", "20201301 00:00:00", "20200102 03:00:00 Mars/Olympus"])
def test_bad_end_times(text: str) -> None:
    assert parse_end(text, T0) is None


def test_plan_honours_duration_and_end_and_names_what_is_wrong() -> None:
    end = datetime(2020, 1, 2, 3, tzinfo=UTC)
    assert plan("1 min", "1800 S", "20200102 03:00:00 UTC", "midpoint", None) == Plan(
        timedelta(minutes=1), end - timedelta(minutes=30), end, "MIDPOINT"
    )
    day = timedelta(days=1)
    assert plan("1 hour", "1 D", "", "BID_ASK", end) == Plan(timedelta(hours=1), end - day, end, "BID_ASK")
    for args, code, words in [
        (("1 week", "1 D", "", "BID"), 162, "bar size"), (("1 min", "1 Q", "", "BID"), 162, "duration"),
        (("1 min", "1 D", "", "OPTION_IMPLIED_VOLATILITY"), 162, "what to show"),
        (("1 min", "1 D", "soon", "BID"), 162, "end date"), (("1 min", "1 D", "", "BID"), 162, "no data"),
    ]:
        got = plan(*args, None)
        assert isinstance(got, Reject) and got.code == code and words in got.message, args


def test_bar_dates_as_ib_insync_parses_them() -> None:
    start = datetime(2020, 1, 1, 22, tzinfo=UTC)
    assert bar_date(start, timedelta(days=1), 1) == "20200101"
    assert bar_date(start, timedelta(hours=1), 1) == "20200101 22:00:00 UTC"
    assert bar_date(start, timedelta(hours=1), 2) == str(int(start.timestamp()))


def test_tick_history_clock_and_ranges(session_file: Path) -> None:
    history = TickHistory(lambda: read_events(session_file))
    first, end = history.first("EURUSD"), history.now()
    assert first == datetime(2020, 1, 1, 22, 0, 0, 65000, tzinfo=UTC)
    assert end is not None and end.date().isoformat() == "2020-01-02"  # the end of the file: all of it is history
    assert len(history.ticks("EURUSD", first, end)) == 9500
    history.clock = T0 + timedelta(minutes=1)
    assert history.now() == T0 + timedelta(minutes=1)
    pushed = Tick("EURUSD", T0 + timedelta(microseconds=1), 1.0, 1.0)
    history.add(pushed)  # kept in time order
    assert history.ticks("EURUSD", T0, T0 + timedelta(microseconds=70_000))[0] == pushed
    assert history.ticks("GBPUSD", T0, end) == [] and history.first("GBPUSD") is None


def test_a_one_shot_iterator_is_not_kept() -> None:
    history = TickHistory(iter([Tick("EURUSD", T0, 1.0, 1.0)]))
    assert history.now() is None
