"""The pipeline tutorial (docs/first-pipeline.md) works exactly as written."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_docs_commands import BIN, COPY_IGNORE, ROOT, commands

from rxstream.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "first-pipeline.md"


def code_blocks(marker: str) -> dict[str, str]:
    """The doc's fenced code blocks whose first line is ``# <marker>...``, by that path."""
    blocks = re.findall(r"```(?:python|console|json)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {b.splitlines()[0][2:].strip(): b for b in blocks if b.startswith(f"# {marker}")}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A quant's project folder with the tutorial's files written into it."""
    for path, code in {**code_blocks("pipelines/"), **code_blocks("tests/")}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(code)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_tutorial_has_its_pipeline_and_its_test() -> None:
    assert set(code_blocks("pipelines/")) == {"pipelines/wide_spreads.py", "pipelines/mean_reversion.py"}
    assert set(code_blocks("tests/")) == {"tests/test_wide_spreads.py"}


def test_the_tutorials_own_test_passes(project: Path) -> None:
    namespace: dict = {}
    exec(compile((project / "tests/test_wide_spreads.py").read_text(), "test_wide_spreads.py", "exec"), namespace)
    namespace["test_every_alert_is_wide_and_symbols_are_spaced_by_ten_seconds"]()


def test_the_replay_shown_in_the_tutorial(
    project: Path, session_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["pipelines"]) == 0
    assert "wide_spreads" in capsysbinary.readouterr().out.decode()
    assert main(["replay", str(session_file), "--pipeline", "wide_spreads"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    shown = [line for line in DOC.read_text().splitlines() if line.startswith('{"')]
    assert lines[:2] == shown[:2]  # the doc shows the real first lines


async def test_the_tutorials_pipeline_is_a_topic_on_the_server(project: Path, aiohttp_client) -> None:
    from rxstream.gateway.app import create_app
    from rxstream.settings import Settings
    from rxstream.wiring import engine_backend

    settings = Settings(pipelines=str(project / "pipelines"), replay_speed=1000)
    client = await aiohttp_client(create_app(settings, backend=engine_backend(settings)))
    async with client.ws_connect("/ws") as ws:
        welcome = await ws.receive_json(timeout=10)
        assert welcome["type"] == "welcome"
        assert "wide_spreads" in welcome["topics"]
        await ws.send_json(  # from seq 0: whatever it published before we asked comes from its history
            {"type": "subscribe", "topics": ["wide_spreads"], "epoch": welcome["epoch"], "since": {"wide_spreads": 0}}
        )
        data: list[dict] = []
        while not data:  # the bundled session at 1000x has a wide spread within its first second
            frame = await ws.receive_json(timeout=20)
            data = [m for m in (frame if isinstance(frame, list) else [frame]) if m["type"] == "data"]
        assert data[0]["topic"] == "wide_spreads" and data[0]["data"]["spread_bp"] >= 2.0
    status = await (await client.get("/websocket/status")).json()
    assert "wide_spreads" in status["stream_health"]


NUMBERS = {"ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "forty": 40}


def test_the_line_count_the_tutorial_gives_is_the_files() -> None:
    said = re.search(r"`pipelines/price_updates.py`: (\w+) lines", DOC.read_text())
    assert said is not None
    shipped = ROOT / "pipelines" / "price_updates.py"
    assert NUMBERS[said.group(1)] == len(shipped.read_text().splitlines())


def test_the_tutorial_runs_as_written_from_inside_a_fresh_clone(tmp_path: Path) -> None:
    """Step 1's shell lines in the clone's folder, the pipeline of step 2, step 3's replay."""
    clone = tmp_path / "rxstream"
    shutil.copytree(ROOT, clone, ignore=COPY_IGNORE, symlinks=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    steps = commands("docs/first-pipeline.md")
    setup = list(itertools.takewhile(lambda c: not c.line.startswith("rxstream replay"), steps))
    assert [c.line.split()[0] for c in setup] == ["mkdir", "cp", "rxstream"]
    listing = subprocess.run(
        ["bash", "-e", "-c", "\n".join(c.line for c in setup)], cwd=clone, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "price_updates" in listing.stdout and "trade_executions" in listing.stdout
    desk = clone / "my-desk"
    for path, code in code_blocks("pipelines/").items():
        (desk / path).write_text(code)
    replay = next(c for c in steps if c.line.startswith("rxstream replay"))
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", replay.line], cwd=desk, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    shown = [line for line in replay.shown if line != "..."]
    assert result.stdout.splitlines()[: len(shown)] == shown
