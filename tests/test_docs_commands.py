"""The shell commands of README.md and docs/quickstart.md work as written, in a fresh copy of the clone.

Every ``$ ...`` line of their ``console`` blocks is taken in order. The fast ones run for real
in a bash shell whose PATH starts with this environment's ``bin`` (what ``source
.venv/bin/activate`` gives after ``make demo``), in a copy of the repository under a
temporary directory; where the doc shows output, the real output must start with it. The
long-running commands (``demo``, ``serve``, ``sim``, ``record``, ``top``) are parsed by the real
argument parser and, for ``serve``, turned into settings, so a flag or value the code does not
take fails here too. ``make`` lines are the bootstrap this environment already did.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = ("README.md", "docs/quickstart.md")
LONG_RUNNING = {"demo", "serve", "sim", "record", "top"}
COPY_IGNORE = shutil.ignore_patterns(".venv*", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis",
                                     "out", "build", ".mypy_cache", ".ruff_cache")


@dataclass
class Command:
    doc: str
    line: str
    shown: list[str] = field(default_factory=list)  # the output lines the doc shows under it

    @property
    def words(self) -> list[str]:
        return shlex.split(self.line, comments=True)


def commands(doc: str) -> list[Command]:
    """The ``$ `` lines of the doc's console blocks, in order, with the output shown under each."""
    found: list[Command] = []
    for block in re.findall(r"```console\n(.*?)```", (ROOT / doc).read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(Command(doc, line[2:].strip()))
            elif found and line.strip():
                found[-1].shown.append(line)
    return found


def _kind(command: Command) -> str:
    words = command.words
    if words[0] == "make":
        return "bootstrap"
    if words[:1] == ["source"]:
        return "activate"
    if words[0] == "rxstream" and words[1] in LONG_RUNNING:
        return "parse"
    return "run"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository as a fresh clone holds it."""
    target = tmp_path_factory.mktemp("fresh") / "rxstream"
    shutil.copytree(ROOT, target, ignore=COPY_IGNORE, symlinks=True)
    return target


def test_the_docs_have_commands_of_every_kind() -> None:
    kinds = {_kind(c) for doc in DOCS for c in commands(doc)}
    assert kinds == {"bootstrap", "activate", "parse", "run"}


def test_the_docs_say_how_to_put_the_commands_on_the_path() -> None:
    for doc in DOCS:
        assert any(_kind(c) == "activate" and c.words == ["source", ".venv/bin/activate"] for c in commands(doc)), doc


@pytest.mark.parametrize("doc", DOCS)
def test_the_fast_commands_run_as_written(doc: str, clone: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(BIN.parent)}
    env.pop("PYTHONPATH", None)
    ran = 0
    for command in commands(doc):
        if _kind(command) != "run":
            continue
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.line], cwd=clone, env=env,
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, f"{doc}: $ {command.line}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{doc}: $ {command.line}\n{result.stderr}"
        if command.shown and command.shown != ["..."]:
            shown = [line for line in command.shown if line != "..."]
            assert result.stdout.splitlines()[: len(shown)] == shown, f"{doc}: $ {command.line}"
        ran += 1
    assert ran >= 1


@pytest.mark.parametrize(
    "command", [c for doc in DOCS for c in commands(doc) if _kind(c) == "parse"], ids=lambda c: c.line[:60]
)
def test_the_long_running_commands_parse(command: Command) -> None:
    from rxstream.cli import build_parser
    from rxstream.settings import Settings

    args = build_parser().parse_args(command.words[1:])
    if args.command == "serve":
        Settings.load(args, env={})


def test_the_welcome_in_the_websocket_guide_lists_the_real_topics() -> None:
    """docs/WEBSOCKET_USAGE.md shows the topics a default server really announces."""
    import asyncio
    import json

    from aiohttp import ClientSession, web

    from rxstream.gateway.app import create_app
    from rxstream.settings import Settings
    from rxstream.wiring import engine_backend

    async def welcome() -> dict:
        settings = Settings(port=0)
        runner = web.AppRunner(create_app(settings, backend=engine_backend(settings)))
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                return await ws.receive_json(timeout=20)  # type: ignore[no-any-return]
        finally:
            await runner.cleanup()

    real = asyncio.run(welcome())
    guide = (ROOT / "docs" / "WEBSOCKET_USAGE.md").read_text()
    text = re.search(r'\{"type": "welcome".*?\}\}\n', guide, flags=re.S)
    assert text is not None
    shown = json.loads(text.group(0))
    assert shown["topics"] == real["topics"]
    assert shown["policies"] == real["policies"]
