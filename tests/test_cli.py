from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from rxstream.cli import main
from rxstream.tickfile import read_events

GOOD = '{"type":"tick","symbol":"EURUSD","time":"2020-01-01T22:00:00Z","bid":1.1,"ask":1.2}'


def test_replaying_the_session_twice_gives_byte_identical_output(session_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["replay", str(session_file), "--pipeline", "price_updates", "--out", str(a)]) == 0
    assert main(["replay", str(session_file), "--pipeline", "price_updates", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    prices = list(read_events(a))  # the output is itself a tick file
    assert 1000 < len(prices) < 9500
    assert prices[-1] == list(read_events(session_file))[-1]


def test_replay_writes_to_stdout_and_gzip(session_file: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rxstream.cli", "replay", str(session_file), "--pipeline", "signals"],
        capture_output=True, check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith(b'{"format":"rxstream.ticks"')
    assert all(b'"action":"HOLD"' not in line for line in lines)
    assert any(b'"action":"BUY"' in line for line in lines)
    assert result.stderr == b""  # no progress bar when stderr is not a terminal
    out = tmp_path / "signals.jsonl.gz"
    assert main(["replay", str(session_file), "--pipeline", "signals", "--out", str(out)]) == 0
    assert gzip.decompress(out.read_bytes()).splitlines() == lines


def test_a_truncated_line_stops_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text('{"format":"rxstream.ticks","version":1}\n' + GOOD + "\n" + GOOD[:25])
    assert main(["replay", str(path), "--pipeline", "price_updates"]) == 2
    assert f"{path}:3: truncated line" in capsys.readouterr().err


def test_skip_bad_reports_the_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "some-bad.jsonl"
    path.write_text(
        '{"format":"rxstream.ticks","version":1}\n' + GOOD + "\n{nope\n" + GOOD.replace("1.1", '"x"') + "\n"
    )
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(path), "--pipeline", "price_updates", "--out", str(out), "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "1 events, 2 bad lines skipped" in err
    assert f"{path}:3: invalid JSON" in err and f"{path}:4: tick.bid" in err
    assert len(list(read_events(out))) == 1


def test_unknown_pipeline_is_named(session_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(session_file), "--pipeline", "prices"]) == 2
    err = capsys.readouterr().err
    assert "unknown pipeline 'prices'" in err and "price_updates" in err


def test_settings_reach_the_pipeline(session_file: Path, tmp_path: Path) -> None:
    slow, fast = tmp_path / "slow.jsonl", tmp_path / "fast.jsonl"
    main(["replay", str(session_file), "--pipeline", "price_updates", "--out", str(slow),
          "--set", "price_update_interval=60"])
    main(["replay", str(session_file), "--pipeline", "price_updates", "--out", str(fast),
          "--set", "price_update_interval=1"])
    assert len(list(read_events(slow))) < len(list(read_events(fast)))


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "rxstream"
    result = subprocess.run([str(script), "pipelines"], capture_output=True, text=True, check=True)
    assert "price_updates" in result.stdout and "trade_executions" in result.stdout


def test_every_subcommand_and_option_has_help_text() -> None:
    import argparse

    from rxstream.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help for choice in commands._choices_actions}
    missing = [name for name in commands.choices if not summaries.get(name)]
    for name, sub in commands.choices.items():
        missing += [f"{name} {'/'.join(a.option_strings) or a.dest}" for a in sub._actions if not a.help]
    assert missing == []


def test_record_says_what_its_client_id_is() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rxstream"), "record", "--help"], capture_output=True, text=True, check=True
    )
    text = " ".join(result.stdout.split())
    assert "client id this program connects to TWS with" in text
