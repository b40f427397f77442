from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rxstream.cli import main
from rxstream.errors import TickFileError
from rxstream.importers import detect_format, import_csv, read_csv_ticks
from rxstream.tickfile import read_events

DATA = Path(__file__).parent / "data"  # the real recorded quotes, with their provenance note

EURUSD = DATA / "eurusd-quotes-2020-01-01.csv"
USDJPY = DATA / "usdjpy-quotes-2013-01-01.csv"


def test_histdata_is_eastern_standard_time_without_daylight_saving(tmp_path: Path) -> None:
    assert detect_format(EURUSD) == "histdata"
    first = next(read_csv_ticks(EURUSD))
    # 20200101 170000065 EST (UTC-5 all year) -> 22:00:00.065 UTC
    assert first.time == datetime(2020, 1, 1, 22, 0, 0, 65000, tzinfo=UTC)
    assert (first.symbol, first.bid, first.ask, first.volume) == ("EURUSD", 1.1212, 1.12172, None)


def test_histdata_in_summer_is_still_utc_minus_five(tmp_path: Path) -> None:
    path = tmp_path / "eurusd-july.csv"
    path.write_text("20200701 120000000,1.1,1.2,0\n")
    assert next(read_csv_ticks(path)).time == datetime(2020, 7, 1, 17, tzinfo=UTC)


def test_truefx_offsets_are_honoured() -> None:
    assert detect_format(USDJPY) == "truefx"
    first = next(read_csv_ticks(USDJPY))
    assert first.time == datetime(2013, 1, 1, 22, 0, 0, 295000, tzinfo=UTC)
    assert (first.symbol, first.bid, first.ask) == ("USDJPY", 86.655, 86.728)


@pytest.mark.parametrize(("source", "count"), [(EURUSD, 9500), (USDJPY, 1000)])
def test_import_csv_command_writes_a_tick_file(tmp_path: Path, source: Path, count: int) -> None:
    out = tmp_path / "out.jsonl.gz"
    assert main(["import-csv", str(source), "-o", str(out)]) == 0
    events = list(read_events(out))
    assert len(events) == count
    assert events == list(read_csv_ticks(source))


def test_a_bad_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "eurusd-bad.csv"
    path.write_text("20200101 170000065,1.1,1.2,0\n20200101 170000065,oops,1.2,0\n")
    with pytest.raises(TickFileError, match=rf"^{path}:2: bid: not a number: 'oops'"):
        import_csv(path, tmp_path / "o.jsonl")


def test_unknown_formats_and_symbols_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a;b;c\n")
    with pytest.raises(TickFileError, match="unrecognised CSV format"):
        detect_format(path)
    path.write_text("timestamp,bid,ask\n2013-01-01 22:00:00+00:00,1,2\n")
    with pytest.raises(TickFileError, match="cannot tell the symbol"):
        list(read_csv_ticks(path))
    assert next(read_csv_ticks(path, symbol="GBPUSD")).symbol == "GBPUSD"
