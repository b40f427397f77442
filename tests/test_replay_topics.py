"""``rxstream replay`` of several pipelines into one output; single-pipeline output kept byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rxstream.cli import main

# sha256 and line count of `rxstream replay <bundled session> --pipeline NAME` as the single-pipeline
# format has always written it: a change here changes every saved replay.
GOLDEN = {
    "price_updates": ("56718c15ff783ad46f2114c85b28984a5c5185f2a1b57ca23ab65d4beac6a6f6", 3888),
    "signals": ("cf0199f26b36f84d1fcc25ce7ba028600d3651f2e0b4ed19a569367b58dcf08c", 34),
    "bars_1m": ("10fb10539761caffc5f3c90dc5d84054cc2aa2391fc9da475d4338af271f9ea8", 362),
    "portfolio_updates": ("9e62dcb6c56d623c8d30106959e6d2e588e6411d82cb1c986ef83550f96e5f50", 1),
}


def replay(session: Path, out: Path, *args: str) -> list[bytes]:
    assert main(["replay", str(session), *args, "--out", str(out)]) == 0
    return out.read_bytes().splitlines()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_single_pipeline_output_is_unchanged(name: str, session_file: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.jsonl"
    lines = replay(session_file, out, "--pipeline", name)
    assert (hashlib.sha256(out.read_bytes()).hexdigest(), len(lines)) == GOLDEN[name]


def test_two_pipelines_in_one_output_each_line_names_its_topic(session_file: Path, tmp_path: Path) -> None:
    both = replay(session_file, tmp_path / "both.jsonl", "--pipeline", "signals", "--pipeline", "bars_1m")
    header = orjson.loads(both[0])
    assert header["format"] == "rxstream.topics"
    assert header["source"].endswith("--pipeline signals --pipeline bars_1m")
    by_topic: dict[str, list[bytes]] = {}
    for line in both[1:]:
        assert line.startswith(b'{"topic":"') and line.endswith(b"}")
        message = orjson.loads(line)
        assert set(message) == {"topic", "data"}
        by_topic.setdefault(message["topic"], []).append(line[line.index(b',"data":') + 8:-1])
    assert set(by_topic) == {"signals", "bars_1m"}
    for name in ("signals", "bars_1m"):  # each topic's lines, byte for byte, are its own replay's
        alone = replay(session_file, tmp_path / f"{name}.jsonl", "--pipeline", name)
        assert by_topic[name] == alone[1:]
    # interleaved in virtual time, not one topic after the other
    topics = [orjson.loads(line)["topic"] for line in both[1:]]
    assert topics.index("signals") < len(topics) - 1 - topics[::-1].index("bars_1m")


def test_all_replays_every_topic_once(session_file: Path, tmp_path: Path) -> None:
    lines = replay(session_file, tmp_path / "all.jsonl", "--all")
    topics = {orjson.loads(line)["topic"] for line in lines[1:]}
    assert {"price_updates", "signals", "bars_1m"} <= topics
    header = orjson.loads(lines[0])
    assert "--pipeline ma_crossover" not in header["source"]  # it feeds signals, it has no topic
    assert len(lines) - 1 == sum(n for name, (_, n) in GOLDEN.items()) - len(GOLDEN)


def test_pipeline_and_all_are_exclusive_and_an_unknown_name_is_named(
    session_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["replay", str(session_file), "--pipeline", "signals", "--all"])
    assert main(["replay", str(session_file), "--pipeline", "signals", "--pipeline", "nope"]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().err


def test_a_reader_that_leaves_early_ends_the_replay_quietly(session_file: Path) -> None:
    command = [sys.executable, "-m", "rxstream.cli", "replay", str(session_file), "--all"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        err = process.stderr.read()
        assert process.wait(timeout=60) == 0
    assert first.startswith(b'{"format":"rxstream.topics"')
    assert b"Traceback" not in err
