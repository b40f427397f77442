"""The recorded sessions that ship in the package are the providers' CSVs as the importer converts them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from rxstream.importers import import_csv
from rxstream.tickfile import read_events

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("bundled", "csv_file", "symbol", "count"),
    [
        ("eurusd-2020-01-01.jsonl.gz", "eurusd-quotes-2020-01-01.csv", "EURUSD", 9500),
        ("usdjpy-2013-01-01.jsonl.gz", "usdjpy-quotes-2013-01-01.csv", "USDJPY", 1000),
    ],
)
def test_a_bundled_session_is_its_csv_imported(
    bundled: str, csv_file: str, symbol: str, count: int, tmp_path: Path
) -> None:
    installed = Path(str(resources.files("rxstream") / "data" / bundled))
    assert installed.is_file()
    fresh = tmp_path / bundled
    assert import_csv(DATA / csv_file, fresh) == count
    assert installed.read_bytes() == fresh.read_bytes()  # byte for byte: gzip without a timestamp
    events = list(read_events(installed))
    assert {e.symbol for e in events} == {symbol}
    assert all(e.time.utcoffset() is not None and e.time.utcoffset().total_seconds() == 0 for e in events)
