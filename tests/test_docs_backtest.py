"""The backtest guide (docs/backtest.md) and the tutorial's strategy steps run exactly as written."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from rxstream.cli import main
from rxstream.pipelines import builtin_pipelines_dir

DOCS = Path(__file__).resolve().parents[1] / "docs"
SESSION_EXPR = "\"$(python -c 'import rxstream; print(rxstream.bundled_session())')\""


def console_runs(doc: Path) -> list[tuple[str, list[str]]]:
    """Each ``$ rxstream ...`` line of the doc's console blocks, with the output lines shown under it."""
    runs: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", doc.read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                runs.append((line[2:], []))
            elif runs and not runs[-1][0].startswith("rxstream "):
                continue
            elif runs and line != "...":
                runs[-1][1].append(line)
    return [(command, shown) for command, shown in runs if command.startswith("rxstream ")]


def run_as_shown(command: str, shown: list[str], session: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    argv = shlex.split(command.replace(SESSION_EXPR, shlex.quote(str(session))))[1:]
    assert main(argv) == 0, command
    captured = capsysbinary.readouterr()
    printed = (captured.out + captured.err).decode().splitlines()
    assert printed[:len(shown)] == shown, command


def test_the_backtest_guide(session_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(session_file, tmp_path)  # the guide's `cp`
    runs = console_runs(DOCS / "backtest.md")
    assert [c.split()[1] for c, _ in runs] == ["replay", "backtest", "replay"]
    for command, shown in runs:
        run_as_shown(command, shown, session_file, capsysbinary)
    assert sorted(p.name for p in (tmp_path / "backtest").iterdir()) == ["fills.jsonl", "report.html", "summary.json"]


def test_the_tutorial_strategy_and_its_backtests(session_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    doc = DOCS / "first-pipeline.md"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    for path in builtin_pipelines_dir().glob("*.py"):  # step 1: start from the shipped pipelines
        shutil.copy(path, tmp_path / "pipelines")
    for block in re.findall(r"```python\n(# pipelines/.*?)```", doc.read_text(), flags=re.S):
        (tmp_path / block.splitlines()[0][2:].strip()).write_text(block)
    runs = [(c, s) for c, s in console_runs(doc) if "mean_reversion" in c]
    assert [c.split()[1] for c, _ in runs] == ["replay", "backtest", "backtest"]
    for command, shown in runs:
        run_as_shown(command, shown, session_file, capsysbinary)
    assert (tmp_path / "backtest-wide" / "report.html").is_file()
