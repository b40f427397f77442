"""The recorded sessions that ship with rxstream, and several sessions played as one.

Two real sessions are bundled: EUR/USD on 2020-01-01 (histdata.com, 9,500
quotes over six hours) and USD/JPY on 2013-01-01 (TrueFX, 1,000 quotes over
half an hour). :func:`played_together` plays several sessions as if they had
been recorded side by side, which is how ``rxstream demo`` shows two
instruments at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from .errors import TickFileError
from .events import Event
from .tickfile import read_events

__all__ = ["bundled_sessions", "played_together"]

_GAP = timedelta(seconds=1)  # between the end of a repeated session and its next pass


def bundled_sessions() -> list[Path]:
    """Every recorded session in the package, by file name (``eurusd-…``, ``usdjpy-…``)."""
    folder = resources.files("rxstream") / "data"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".jsonl.gz"))


def _span(path: Path) -> tuple[datetime, datetime]:
    first = last = None
    for event in read_events(path):
        if first is None:
            first = event.time
        last = event.time
    if first is None or last is None:
        raise TickFileError(str(path), 1, "no events to play")
    return first, last


def _repeated(path: Path, shift: timedelta, length: timedelta, until: datetime) -> Iterator[Event]:
    """The session shifted by ``shift``, then again ``length`` later, and so on, up to ``until``."""
    while True:
        for event in read_events(path):
            time = event.time + shift
            if time > until:
                return
            yield event._replace(time=time)
        shift += length


def played_together(paths: Sequence[str | Path]) -> Iterator[Event]:
    """The sessions' events merged in time order, as if recorded side by side.

    The longest session sets the clock: every other one is shifted to start
    when it starts and repeated (a second apart) until it ends. Events are
    otherwise unchanged; two events at the same time come in the order of
    ``paths``.
    """
    files = [Path(p) for p in paths]
    spans = [_span(p) for p in files]
    base_start, base_end = max(spans, key=lambda span: span[1] - span[0])
    streams = [
        _repeated(path, base_start - start, end - start + _GAP, base_end)
        for path, (start, end) in zip(files, spans, strict=True)
    ]
    return heapq.merge(*streams, key=lambda event: event.time)
