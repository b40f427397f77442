"""Tick files: JSON Lines of events behind a versioned header; gzip when the name ends in ``.gz``.

The format, one JSON object per line::

    {"format": "rxstream.ticks", "version": 1, "source": "histdata EURUSD"}
    {"type": "tick", "symbol": "EURUSD", "time": "2020-01-01T22:00:00.065Z", "bid": 1.1212, "ask": 1.12172}
    {"type": "fill", "exec_id": "0001", "order_id": 7, ...}

Fields that are ``null`` are left out. :func:`read_events` streams (constant
memory whatever the size); every problem is a
:class:`~rxstream.errors.TickFileError` reading ``FILE:LINE: reason``. With
``skip_bad=True`` bad lines are counted in :class:`ReadStats` (with the first
few reasons) instead, so nothing is skipped silently. :class:`TickFileWriter`
writes what the reader reads back exactly (and byte-identically for the same
events: gzip members carry no timestamp).
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import orjson

from .errors import TickFileError, ValidationError
from .events import EVENT_TYPES, Event, dumps

__all__ = [
    "FORMAT",
    "VERSION",
    "ReadStats",
    "TickFileWriter",
    "bundled_session",
    "encode_event",
    "encode_header",
    "read_events",
    "symbols_in",
    "write_events",
]

FORMAT = "rxstream.ticks"
VERSION = 1
_MAX_REASONS = 20


def bundled_session() -> Path:
    """The recorded EUR/USD session (2020-01-01, 9,500 real quotes) that ships with rxstream."""
    return Path(str(resources.files("rxstream") / "data" / "eurusd-2020-01-01.jsonl.gz"))


def _open_binary(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        if mode == "rb":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        raw = open(path, "wb")
        return cast(IO[bytes], gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
    return open(path, mode)


@dataclass
class ReadStats:
    """What a read saw: lines, events and skipped lines (with the first reasons)."""

    path: str = ""
    lines: int = 0
    events: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    """Bytes in the file on disk (compressed, for ``.gz``)."""
    _raw: IO[bytes] | None = field(default=None, repr=False)

    @property
    def bytes_read(self) -> int:
        """How far into the file on disk the reader is (for progress bars)."""
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return self.size

    @property
    def position(self) -> str:
        """``FILE:LINE`` of the event the reader yielded last (every line after the header
        is an event or a skipped line, so this costs the reader nothing per line)."""
        return f"{self.path}:{1 + self.events + self.skipped}"

    def summary(self) -> str:
        """One line for a terminal: ``FILE: N events, M bad lines skipped``."""
        text = f"{self.path}: {self.events} events"
        if self.skipped:
            text += f", {self.skipped} bad line{'s' if self.skipped != 1 else ''} skipped"
        return text


def read_events(
    path: str | Path, *, skip_bad: bool = False, stats: ReadStats | None = None
) -> Iterator[Event]:
    """Stream the events of a tick file.

    Args:
        path: The file (``.gz`` is decompressed on the fly).
        skip_bad: Count and skip bad lines instead of raising (never silently: see ``stats``).
        stats: Filled in as the file is read.

    Raises:
        TickFileError: ``FILE:LINE: reason`` for a missing file, a bad header, a bad line
            (unless ``skip_bad``) or a truncated gzip stream.
    """
    path = Path(path)
    name = str(path)
    stats = stats if stats is not None else ReadStats()
    stats.path = name
    builders = EVENT_TYPES
    loads = orjson.loads
    try:
        handle = _open_binary(path, "rb")
    except OSError as error:
        raise TickFileError(name, 0, f"cannot open: {error.strerror or error}") from None
    stats.size = path.stat().st_size
    stats._raw = getattr(handle, "fileobj", None) or handle
    with handle:
        lineno = 0
        try:
            lines = iter(handle)
            first = next(lines, None)
            lineno = 1
            stats.lines = 1
            stats.header = _read_header(name, first)
            for lineno, line in enumerate(lines, start=2):
                try:
                    record = loads(line)
                    event = builders[record["type"]](record)
                except Exception as error:
                    reason = _reason(line, error)
                    if not skip_bad:
                        raise TickFileError(name, lineno, reason) from None
                    stats.skipped += 1
                    if len(stats.reasons) < _MAX_REASONS:
                        stats.reasons.append(f"{name}:{lineno}: {reason}")
                    continue
                stats.events += 1
                yield event
            stats.lines = lineno
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise TickFileError(name, lineno + 1, f"corrupt or truncated gzip data ({error})") from None


def _read_header(name: str, line: bytes | None) -> dict[str, Any]:
    if line is None:
        raise TickFileError(name, 1, "empty file: expected a header line")
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise TickFileError(name, 1, f"header is not JSON: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TickFileError(name, 1, f'expected a header {{"format": "{FORMAT}", "version": {VERSION}}}')
    if header.get("version") != VERSION:
        raise TickFileError(name, 1, f"unsupported version {header.get('version')!r} (this reader reads {VERSION})")
    return header


def _reason(line: bytes, error: Exception) -> str:
    """Say what is wrong with a line that failed to parse (only runs on the error path)."""
    if isinstance(error, orjson.JSONDecodeError):
        what = "invalid JSON" if line.endswith(b"\n") else "truncated line"
        return f"{what}: {error}"
    if isinstance(error, ValidationError):
        return str(error)
    record = orjson.loads(line)
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    kind = record.get("type")
    if kind is None:
        return 'missing "type"'
    if kind not in EVENT_TYPES:
        return f"unknown type {kind!r} (expected one of {', '.join(EVENT_TYPES)})"
    return f"{type(error).__name__}: {error}"


def encode_event(event: Event) -> bytes:
    """One tick-file line for ``event`` (``null`` fields left out), newline included."""
    return dumps({k: v for k, v in event.to_dict().items() if v is not None}) + b"\n"


def encode_header(source: str | None = None) -> bytes:
    """The header line of a tick file, newline included."""
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    if source:
        header["source"] = source
    return dumps(header) + b"\n"


class TickFileWriter:
    """Writes events to a tick file; use as a context manager.

    >>> import tempfile, pathlib
    >>> from rxstream.events import Tick
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "session.jsonl.gz"
    >>> with TickFileWriter(path, source="doctest") as writer:
    ...     writer.write(Tick.from_dict({"symbol": "EURUSD", "time": "2020-01-01T22:00:00Z", "bid": 1.12}))
    >>> [e.bid for e in read_events(path)]
    [1.12]
    """

    def __init__(self, path: str | Path, *, source: str | None = None) -> None:
        self.path = Path(path)
        self.count = 0
        self._handle: IO[bytes] = _open_binary(self.path, "wb")
        self._handle.write(encode_header(source))

    def write(self, event: Event) -> None:
        """Append one event."""
        self._handle.write(encode_event(event))
        self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._handle.close()

    def __enter__(self) -> TickFileWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def symbols_in(path: str | Path, *, limit: int = 1000) -> list[str]:
    """The symbols of a file's first ``limit`` events, sorted (a bad file raises, naming FILE:LINE)."""
    return sorted({e.symbol for e in itertools.islice(read_events(path), limit) if hasattr(e, "symbol")})


def write_events(path: str | Path, events: Iterable[Event], *, source: str | None = None) -> int:
    """Write ``events`` to a new tick file at ``path``; returns how many were written."""
    with TickFileWriter(path, source=source) as writer:
        for event in events:
            writer.write(event)
        return writer.count

