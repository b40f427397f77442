"""Importers from providers' CSV quote files into tick files.

Two formats, detected from the first line:

* **histdata** (``20200101 170000065,1.121200,1.121720,0``): no header;
  timestamps are US Eastern Standard Time *without* daylight saving, i.e. a
  fixed UTC−05:00 all year; the volume column is always 0 and is dropped;
* **truefx** (header ``timestamp,bid,ask``): ISO-8601 timestamps with an offset.

The symbol comes from ``symbol=`` or else from the file name
(``eurusd-quotes-2020-01-01.csv`` → ``EURUSD``). Every bad row is a
:class:`~rxstream.errors.TickFileError` naming ``FILE:LINE``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from .errors import TickFileError
from .events import Tick
from .tickfile import write_events

__all__ = ["CsvFormat", "detect_format", "import_csv", "read_csv_ticks"]

CsvFormat = Literal["histdata", "truefx"]

EST = timezone(timedelta(hours=-5), "EST")
"""histdata.com's clock: Eastern Standard Time all year, no daylight saving."""

_SYMBOL_IN_NAME = re.compile(r"^([A-Za-z]{6})(?:[-_.]|$)")


def detect_format(path: str | Path) -> CsvFormat:
    """Tell the format from the first line of ``path``."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline().strip()
    if first.lower().startswith("timestamp,bid,ask"):
        return "truefx"
    if re.match(r"^\d{8} \d{9},", first):
        return "histdata"
    raise TickFileError(str(path), 1, f"unrecognised CSV format (expected histdata or truefx), got {first[:60]!r}")


def _symbol_from_name(path: Path) -> str:
    match = _SYMBOL_IN_NAME.match(path.name)
    if not match:
        raise TickFileError(str(path), 0, "cannot tell the symbol from the file name; pass symbol=...")
    return match.group(1).upper()


def _price(text: str, path: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TickFileError(path, line, f"{column}: not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise TickFileError(path, line, f"{column}: expected a positive price, got {text!r}")
    return value


def _histdata_time(text: str, path: str, line: int) -> datetime:
    try:
        local = datetime.strptime(text, "%Y%m%d %H%M%S%f")
    except ValueError:
        raise TickFileError(path, line, f"timestamp: expected 'YYYYMMDD HHMMSSmmm', got {text!r}") from None
    # strptime reads the 3 millisecond digits as a fraction: "065" -> 65000 µs, as intended.
    return local.replace(tzinfo=EST).astimezone(UTC)


def _truefx_time(text: str, path: str, line: int) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise TickFileError(path, line, f"timestamp: not ISO-8601: {text!r}") from None
    if value.utcoffset() is None:
        raise TickFileError(path, line, f"timestamp: no UTC offset in {text!r}")
    return value.astimezone(UTC)


def read_csv_ticks(path: str | Path, *, symbol: str | None = None, fmt: CsvFormat | None = None) -> Iterator[Tick]:
    """Stream the quotes of a provider CSV as :class:`~rxstream.events.Tick` records."""
    path = Path(path)
    name = str(path)
    fmt = fmt or detect_format(path)
    symbol = symbol or _symbol_from_name(path)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        if fmt == "truefx":
            next(rows, None)
        start = 2 if fmt == "truefx" else 1
        for line, row in enumerate(rows, start=start):
            if not row:
                continue
            if fmt == "histdata":
                if len(row) != 4:
                    raise TickFileError(name, line, f"expected 4 columns (time,bid,ask,volume), got {len(row)}")
                time = _histdata_time(row[0], name, line)
            else:
                if len(row) != 3:
                    raise TickFileError(name, line, f"expected 3 columns (timestamp,bid,ask), got {len(row)}")
                time = _truefx_time(row[0], name, line)
            bid = _price(row[1], name, line, "bid")
            ask = _price(row[2], name, line, "ask")
            yield Tick(symbol, time, bid, ask)


def import_csv(
    source: str | Path, dest: str | Path, *, symbol: str | None = None, fmt: CsvFormat | None = None
) -> int:
    """Convert a provider CSV into a tick file; returns the number of ticks written."""
    source = Path(source)
    fmt = fmt or detect_format(source)
    return write_events(dest, read_csv_ticks(source, symbol=symbol, fmt=fmt), source=f"{fmt}:{source.name}")
