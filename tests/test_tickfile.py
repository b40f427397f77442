from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rxstream.errors import TickFileError
from rxstream.events import Fill, PositionUpdate, Signal, Tick
from rxstream.tickfile import ReadStats, TickFileWriter, read_events, write_events

T0 = datetime(2020, 1, 1, 22, 0, 0, 65000, tzinfo=UTC)


def mixed_events() -> list:
    return [
        Tick("EURUSD", T0, 1.1212, 1.12172),
        Tick("AAPL", T0 + timedelta(seconds=1), 187.1, 187.2, 187.15, 100, 200, 5, 1_000_000),
        PositionUpdate("DU0000001", "AAPL", 100, 187.5, T0 + timedelta(seconds=2)),
        Fill("0001f4e8.01", 7, "DU0000001", "EURUSD", "SELL", 20000, 1.12146, 2.0, T0 + timedelta(seconds=3)),
        Fill("0001f4e8.02", 8, "DU0000001", "EURUSD", "BUY", 20000, 1.12146, None, T0 + timedelta(seconds=4)),
        Signal("ma", "EURUSD", "BUY", 0.625, T0 + timedelta(seconds=5), "cross"),
    ]


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_recorder_output_reads_back_exactly(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    events = mixed_events()
    assert write_events(path, events, source="test") == len(events)
    stats = ReadStats()
    assert list(read_events(path, stats=stats)) == events
    assert stats.events == len(events) and stats.skipped == 0
    assert stats.header == {"format": "rxstream.ticks", "version": 1, "source": "test"}


def test_the_same_events_give_byte_identical_gzip_files(tmp_path: Path) -> None:
    write_events(tmp_path / "a.jsonl.gz", mixed_events())
    write_events(tmp_path / "b.jsonl.gz", mixed_events())
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def write_lines(path: Path, *lines: str, header: bool = True) -> Path:
    head = ['{"format":"rxstream.ticks","version":1}'] if header else []
    path.write_text("\n".join([*head, *lines]) + "\n")
    return path


GOOD = '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1}'


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":"x"}', "tick.bid: expected a number"),
        ('{"type":"quote","symbol":"EURUSD"}', "unknown type 'quote'"),
        ('{"symbol":"EURUSD"}', 'missing "type"'),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"type":"tick",', "invalid JSON"),
    ],
)
def test_a_bad_line_names_file_and_line(tmp_path: Path, bad: str, reason: str) -> None:
    path = write_lines(tmp_path / "t.jsonl", GOOD, bad, GOOD)
    with pytest.raises(TickFileError) as caught:
        list(read_events(path))
    assert str(caught.value).startswith(f"{path}:3: ")
    assert reason in str(caught.value)
    assert (caught.value.path, caught.value.line) == (str(path), 3)


def test_a_truncated_last_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_bytes(b'{"format":"rxstream.ticks","version":1}\n' + GOOD.encode() + b"\n" + GOOD.encode()[:30])
    with pytest.raises(TickFileError, match=rf"^{path}:3: truncated line"):
        list(read_events(path))


def test_a_truncated_gzip_file_is_reported(tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl.gz"
    write_events(whole, [Tick("EURUSD", T0 + timedelta(seconds=i), 1.1, 1.2) for i in range(5000)])
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(TickFileError, match="corrupt or truncated gzip"):
        list(read_events(cut))


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ("", "empty file"),
        ('{"format":"csv"}', "expected a header"),
        ('{"format":"rxstream.ticks","version":2}', "unsupported version 2"),
        ("not json", "header is not JSON"),
    ],
)
def test_bad_headers(tmp_path: Path, first: str, reason: str) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(first)
    with pytest.raises(TickFileError, match=rf"^{path}:1: .*{reason}"):
        list(read_events(path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TickFileError, match=r"nope\.jsonl:0: cannot open"):
        list(read_events(tmp_path / "nope.jsonl"))


def test_skip_bad_counts_and_keeps_reasons(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", GOOD, "{oops", GOOD, '{"type":"tick"}', GOOD)
    stats = ReadStats()
    events = list(read_events(path, skip_bad=True, stats=stats))
    assert len(events) == 3
    assert stats.skipped == 2
    assert stats.reasons[0].startswith(f"{path}:3: invalid JSON")
    assert stats.reasons[1].startswith(f"{path}:5: tick.symbol")
    assert stats.summary() == f"{path}: 3 events, 2 bad lines skipped"


def test_reading_streams_lazily(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", GOOD, "{oops")
    events = read_events(path)
    assert next(events).symbol == "EURUSD"  # the bad line is not read yet
    with pytest.raises(TickFileError):
        next(events)


def test_bundled_session_is_found_by_installed_code(session_file: Path) -> None:
    stats = ReadStats()
    events = list(read_events(session_file, stats=stats))
    assert len(events) == 9500
    assert events[0] == Tick("EURUSD", T0, 1.1212, 1.12172)
    assert stats.header["source"] == "histdata:eurusd-quotes-2020-01-01.csv"


def test_writer_counts_and_compresses(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl.gz"
    with TickFileWriter(path) as writer:
        writer.write(Tick("EURUSD", T0, 1.1, 1.2))
    assert writer.count == 1
    assert gzip.decompress(path.read_bytes()).splitlines()[1].startswith(b'{"type":"tick"')
