from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    path.write_text("\n".join([*head, *lines]) + "\n", encoding="utf-8")
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


def test_a_truncated_gzip_file_reads_with_skip_bad_up_to_its_last_complete_line(tmp_path: Path) -> None:
    ticks = [Tick("EURUSD", T0 + timedelta(seconds=i), 1.1, 1.2) for i in range(5000)]
    whole = tmp_path / "whole.jsonl.gz"
    write_events(whole, ticks)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    stats = ReadStats()
    kept = list(read_events(cut, skip_bad=True, stats=stats))
    assert 0 < len(kept) < len(ticks)
    assert kept == ticks[: len(kept)]  # every complete line before the cut, in order
    assert stats.skipped == 1
    line = len(kept) + 2
    assert stats.reasons == [
        f"{cut}:{line}: corrupt or truncated gzip data (Compressed file ended before the end-of-stream marker "
        f"was reached): kept the {line - 1} complete lines before it, cut the rest"
    ]


QUOTE_LIKE = [  # the reader's fast path for quotes must accept and refuse exactly what Tick.from_dict does
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00.5Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T23:00:00+01:00","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1,"ask":2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":"1.1","ask":1.2}',
    '{"type":"tick","symbol":"","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":7,"time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"yesterdayZ","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":20200101,"bid":1.1,"ask":1.2}',
    '{"type":"tock","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}',
    '{"symbol":"EURUSD","type":"tick","time":"2020-01-01T22:00:00Z","ask":1.2,"bid":1.1}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"last":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"rate":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":null,"ask":1.2}',
    '["tick","EURUSD","2020-01-01T22:00:00Z",1.1,1.2]',
    '"tick,EURUSD,2020-01-01T22:00:00Z,1.1,"',
    '{"symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}',
    '{"type":"","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01t22:00:00.5z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00.1234567Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00.9999999Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00+00:00","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00-00:00","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01 22:00:00Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"20200101T220000Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-12-31T23:59:60Z","bid":1.1,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":123456789012345678901234567890,"ask":1.2}',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2,"bid":7.5}',
    '{"type":"tick","symbol":"EUR\\u00fcUSD","time":"2020-01-01T22:00:00Z","bid":-0.0,"ask":1e-320}',
    '  {"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}  ',
    '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2} 7',
]


@pytest.mark.parametrize("line", QUOTE_LIKE)
def test_quote_lines_read_exactly_as_the_general_validation_says(tmp_path: Path, line: str) -> None:
    import orjson

    from rxstream.events import event_from_dict

    path = write_lines(tmp_path / "q.jsonl", line)
    stats = ReadStats()
    got = list(read_events(path, skip_bad=True, stats=stats))
    try:
        expected = [event_from_dict(orjson.loads(line))]
    except Exception:
        assert got == [] and stats.skipped == 1
        assert stats.reasons[0].startswith(f"{path}:2: ")
    else:
        assert got == expected and stats.skipped == 0
        assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]  # an int price stays an int
        assert type(got[0].time) is datetime and got[0].time.tzinfo is UTC


_TIMES = st.builds(
    "{}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.sampled_from(["2020", "1999", "0001", "9999", "20"]),
    st.integers(0, 13), st.integers(0, 32), st.sampled_from(["T", "t", " ", "_"]),
    st.integers(0, 25), st.integers(0, 60), st.integers(0, 61),
    st.sampled_from(["", "."]).flatmap(lambda dot: st.just(dot) if not dot else st.text("0123456789", max_size=10).map(
        lambda digits: dot + digits)),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+01:30", "+0100", "+24:00"]),
)
_CHARACTERS = st.characters(blacklist_categories=("Cs",))  # what JSON text can hold
_PRICES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(['"1.1"', "null", "true", "[]", "1e400"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.builds(
    '{{"type":{},"symbol":{},"time":"{}","bid":{},"ask":{}{}}}'.format,
    st.sampled_from(['"tick"', '"tick"', '"fill"', '""', "7"]),
    st.one_of(st.text(_CHARACTERS, max_size=6).map(lambda t: orjson.dumps(t).decode()), st.just("null")),
    _TIMES, _PRICES, _PRICES,
    st.sampled_from(["", "", ',"last":1.5', ',"x":1', ',"bid":2.5']),
), min_size=1, max_size=30))
def test_generated_quote_lines_read_as_the_general_validation_says(tmp_path: Path, lines: list[str]) -> None:
    """The quote fast path (msgspec) against ``event_from_dict(orjson.loads(line))``, line by line."""
    from rxstream.events import event_from_dict

    expected, bad = [], 0
    for line in lines:
        try:
            expected.append(event_from_dict(orjson.loads(line)))
        except Exception:
            bad += 1
    path = write_lines(tmp_path / "generated.jsonl", *lines)
    stats = ReadStats()
    got = list(read_events(path, skip_bad=True, stats=stats))
    assert got == expected and stats.skipped == bad
    assert [[type(v) for v in event] for event in got] == [[type(v) for v in event] for event in expected]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_the_json_parsers_never_yield_a_non_finite_float(number: str) -> None:
    """The reader's quote fast path (msgspec) and its general path (orjson) rely on this."""
    import msgspec

    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(f'{{"bid": {number}}}')
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(f'{{"bid": {number}}}', type=dict[str, int | float])


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


@pytest.mark.parametrize("name", ["live.jsonl", "live.jsonl.gz"])
def test_flush_makes_everything_written_so_far_readable_while_writing(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    events = mixed_events()
    with TickFileWriter(path, source="live") as writer:
        writer.write(events[0])
        writer.flush()
        assert list(read_events(path, skip_bad=True)) == events[:1]  # the file is still open
        for event in events[1:]:
            writer.write(event)
        writer.flush()
        assert list(read_events(path)) == events
    assert list(read_events(path)) == events  # gzip members one after another read as one stream


def test_flush_every_must_be_positive(tmp_path: Path) -> None:
    from rxstream.errors import ConfigError

    with pytest.raises(ConfigError, match="flush_every"):
        TickFileWriter(tmp_path / "x.jsonl", flush_every=0)
