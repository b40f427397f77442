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
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Any, cast

import msgspec
import orjson

from .errors import ConfigError, TickFileError, ValidationError
from .events import EVENT_TYPES, Event, Tick, dumps

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


class _Quote(msgspec.Struct, tag="tick", tag_field="type", forbid_unknown_fields=True, gc=False):
    """A quote line of exactly these five keys, the reader's fast path (any other line takes the general one).

    msgspec parses times as :func:`rxstream.events.parse_time` does and refuses
    what ``Tick.from_dict`` refuses; prices are kept only when both are JSON
    floats (an integer price takes the general path, which keeps it an ``int``).
    """

    symbol: Annotated[str, msgspec.Meta(min_length=1)]
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    bid: int | float
    ask: int | float


class _NoType(msgspec.Struct, tag="", tag_field="type"):
    """Never a quote: a second member makes ``"type"`` required (a lone tagged struct would not be)."""


_QUOTE_LINE = msgspec.json.Decoder(_Quote | _NoType)


def bundled_session() -> Path:
    """The recorded EUR/USD session (2020-01-01, 9,500 real quotes) that ships with rxstream."""
    return Path(str(resources.files("rxstream") / "data" / "eurusd-2020-01-01.jsonl.gz"))


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


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
    loads, decode_quote, quote_type = orjson.loads, _QUOTE_LINE.decode, _Quote
    new, tick, utc = tuple.__new__, Tick, UTC
    try:
        handle = _open_binary(path)
    except OSError as error:
        raise TickFileError(name, 0, f"cannot open: {error.strerror or error}") from None
    stats.size = path.stat().st_size
    stats._raw = getattr(handle, "fileobj", None) or handle
    with handle:
        try:
            stats.header = _read_header(name, handle.readline() or None)
            stats.lines = 1
            for line in handle:  # the line number is 2 + events + skipped: counted only when needed
                try:  # the commonest line, a bid/ask quote, decoded and checked in C by msgspec
                    quote = decode_quote(line)
                except Exception:  # not that shape, or a bad value: the general path says what is wrong
                    quote = None
                try:
                    if (type(quote) is quote_type and quote.time.tzinfo is utc
                            and type(quote.bid) is float and type(quote.ask) is float):
                        event: Event = new(tick, (quote.symbol, quote.time, quote.bid, quote.ask,
                                                  None, None, None, None, None))
                    else:
                        record = loads(line)
                        event = builders[record["type"]](record)
                except Exception as error:
                    _bad_line(stats, skip_bad, line, error)
                    continue
                stats.events += 1
                yield event
            stats.lines = 1 + stats.events + stats.skipped
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            _truncated(stats, skip_bad, error)


def _bad_line(stats: ReadStats, skip_bad: bool, line: bytes, error: Exception) -> None:
    """Raise for the bad line being read, or count it in ``stats`` with its reason."""
    lineno = 2 + stats.events + stats.skipped
    reason = _reason(line, error)
    if not skip_bad:
        raise TickFileError(stats.path, lineno, reason) from None
    stats.skipped += 1
    if len(stats.reasons) < _MAX_REASONS:
        stats.reasons.append(f"{stats.path}:{lineno}: {reason}")


def _truncated(stats: ReadStats, skip_bad: bool, error: Exception) -> None:
    """Raise for a gzip stream that breaks off, or keep what came before it and say what was cut."""
    lineno = 1 + stats.events + stats.skipped + (1 if stats.header else 0)
    reason = f"corrupt or truncated gzip data ({error})"
    if not skip_bad:
        raise TickFileError(stats.path, lineno, reason) from None
    stats.skipped += 1
    stats.lines = lineno
    stats.reasons.append(
        f"{stats.path}:{lineno}: {reason}: kept the {lineno - 1} complete lines before it, cut the rest"
    )


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

    With ``flush_every`` (seconds) a background thread makes everything
    written so far readable at least that often, even while no event comes:
    it ends the current gzip member (a ``.gz`` file is a series of complete
    members) and hands the bytes to the operating system. A recorder killed
    with SIGKILL then leaves a file whose events older than ``flush_every``
    all replay (``read_events(..., skip_bad=True)`` reads up to the cut).
    Without it the file is one gzip member, byte-identical for the same events.

    >>> import tempfile, pathlib
    >>> from rxstream.events import Tick
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "session.jsonl.gz"
    >>> with TickFileWriter(path, source="doctest") as writer:
    ...     writer.write(Tick.from_dict({"symbol": "EURUSD", "time": "2020-01-01T22:00:00Z", "bid": 1.12}))
    >>> [e.bid for e in read_events(path)]
    [1.12]
    """

    def __init__(self, path: str | Path, *, source: str | None = None, flush_every: float | None = None) -> None:
        if flush_every is not None and not flush_every > 0:
            raise ConfigError("flush_every", f"must be a positive number of seconds, got {flush_every!r}")
        self.path = Path(path)
        self.count = 0
        self._raw = open(self.path, "wb")
        self._compressed = self.path.suffix == ".gz"
        self._handle: IO[bytes] | None = None  # the open gzip member, begun at the first write after a flush
        self._append(encode_header(source))
        self._lock: threading.Lock | None = None
        self._flusher: threading.Thread | None = None
        self._closing = threading.Event()
        self._dirty = False
        if flush_every is not None:
            self._lock = threading.Lock()
            self.flush()
            self._flusher = threading.Thread(
                target=self._flush_periodically, args=(flush_every,), name=f"flush {self.path.name}", daemon=True
            )
            self._flusher.start()

    def _append(self, data: bytes) -> None:
        handle = self._handle
        if handle is None:
            handle = self._handle = (
                cast(IO[bytes], gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0))
                if self._compressed else self._raw
            )
        handle.write(data)
        self._dirty = True

    def write(self, event: Event) -> None:
        """Append one event."""
        line = encode_event(event)
        if self._lock is None:
            self._append(line)
        else:
            with self._lock:
                self._append(line)
        self.count += 1

    def flush(self) -> None:
        """Make everything written so far readable: end the gzip member, hand the bytes to the OS."""
        if self._lock is None:
            self._flush()
            return
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._compressed and self._handle is not None:
            self._handle.close()  # writes the member's trailer; the file stays open
            self._handle = None
        self._raw.flush()
        self._dirty = False

    def _flush_periodically(self, interval: float) -> None:
        while not self._closing.wait(interval):
            with self._lock:  # type: ignore[union-attr]
                if self._dirty and not self._raw.closed:
                    self._flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._closing.set()
        if self._flusher is not None:
            self._flusher.join()
        if self._raw.closed:
            return
        if self._handle is not None:
            self._handle.close()
        self._raw.close()

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

