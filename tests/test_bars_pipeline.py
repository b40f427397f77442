"""``rxstream replay FILE --pipeline bars_1m`` against bars computed straight from the providers' CSV files."""

from __future__ import annotations

import csv
import heapq
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from rxstream.cli import main
from rxstream.tickfile import read_events, write_events

DATA = Path(__file__).parent / "data"
EURUSD = DATA / "eurusd-quotes-2020-01-01.csv"
USDJPY = DATA / "usdjpy-quotes-2013-01-01.csv"
SHIFT = timedelta(days=2556)  # 2013-01-01 → 2020-01-01: puts the USD/JPY quotes beside the EUR/USD ones

Quote = tuple[datetime, str, Decimal]  # time (UTC), symbol, mid


def csv_quotes(path: Path, symbol: str, shift: timedelta = timedelta(0)) -> list[Quote]:
    """The CSV's quotes with exact decimal mids, read without rxstream's importer."""
    out: list[Quote] = []
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if row[0] == "timestamp":
                continue
            if "-" in row[0]:  # TrueFX: ISO-8601 with offset
                time = datetime.fromisoformat(row[0]).astimezone(UTC)
            else:  # histdata: EST (UTC-5) all year, 'YYYYMMDD HHMMSSmmm'
                day, clock = row[0].split()
                time = datetime(
                    int(day[:4]), int(day[4:6]), int(day[6:]), int(clock[:2]), int(clock[2:4]), int(clock[4:6]),
                    int(clock[6:]) * 1000, tzinfo=UTC,
                ) + timedelta(hours=5)
            out.append((time + shift, symbol, (Decimal(row[1]) + Decimal(row[2])) / 2))
    return out


def expected_bars(quotes: list[Quote]) -> list[dict[str, object]]:
    """One bar per symbol per minute with quotes: first/last mid, extremes, count; by minute, then first seen."""
    minutes: dict[datetime, dict[str, list[Decimal]]] = defaultdict(dict)
    for time, symbol, mid in quotes:
        minute = time.replace(second=0, microsecond=0)
        minutes[minute].setdefault(symbol, []).append(mid)
    bars = []
    for minute in sorted(minutes):
        for symbol, mids in minutes[minute].items():
            bars.append({
                "type": "bar", "symbol": symbol,
                "start": minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (minute + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": mids[0], "high": max(mids), "low": min(mids), "close": mids[-1], "ticks": len(mids),
            })
    return bars


def replayed_bars(tick_file: Path, tmp_path: Path) -> list[dict[str, object]]:
    out = tmp_path / "bars.jsonl"
    assert main(["replay", str(tick_file), "--pipeline", "bars_1m", "--out", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    assert orjson.loads(lines[0])["format"] == "rxstream.ticks"
    return [orjson.loads(line) for line in lines[1:]]


def assert_same_bars(got: list[dict[str, object]], want: list[dict[str, object]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert {k: g[k] for k in ("type", "symbol", "start", "end", "ticks")} == {
            k: w[k] for k in ("type", "symbol", "start", "end", "ticks")
        }
        for name in ("open", "high", "low", "close"):
            assert abs(Decimal(str(g[name])) - w[name]) < Decimal("1e-9"), (g, name, w[name])  # type: ignore[operator]


@pytest.mark.parametrize(("csv_file", "symbol"), [(EURUSD, "EURUSD"), (USDJPY, "USDJPY")])
def test_bars_1m_of_an_imported_csv_match_the_csv(csv_file: Path, symbol: str, tmp_path: Path) -> None:
    tick_file = tmp_path / "ticks.jsonl.gz"
    assert main(["import-csv", str(csv_file), "-o", str(tick_file)]) == 0
    want = expected_bars(csv_quotes(csv_file, symbol))
    got = replayed_bars(tick_file, tmp_path)
    assert_same_bars(got, want)
    assert sum(b["ticks"] for b in got) == len(list(read_events(tick_file)))  # type: ignore[misc]
    assert len(got) > 30


def test_bars_1m_keep_symbols_apart_in_one_file(tmp_path: Path) -> None:
    eurusd, usdjpy = tmp_path / "eurusd.jsonl", tmp_path / "usdjpy.jsonl"
    assert main(["import-csv", str(EURUSD), "-o", str(eurusd)]) == 0
    assert main(["import-csv", str(USDJPY), "-o", str(usdjpy)]) == 0
    jpy = (t._replace(time=t.time + SHIFT) for t in read_events(usdjpy))
    merged = tmp_path / "two-symbols.jsonl"
    write_events(merged, heapq.merge(read_events(eurusd), jpy, key=lambda t: t.time))
    quotes = sorted(csv_quotes(EURUSD, "EURUSD") + csv_quotes(USDJPY, "USDJPY", SHIFT), key=lambda q: q[0])
    got = replayed_bars(merged, tmp_path)
    assert_same_bars(got, expected_bars(quotes))
    both = {b["start"] for b in got if b["symbol"] == "USDJPY"} & {b["start"] for b in got if b["symbol"] == "EURUSD"}
    assert len(both) > 20  # minutes with bars of both symbols
