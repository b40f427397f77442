"""What a user can cause at the command line ends in one line and an exit status, never a traceback.

Each case runs the installed ``rxstream`` console script in a subprocess, as a user would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_until

RXSTREAM = str(Path(sys.executable).parent / "rxstream")


def _assert_one_clean_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    assert "CancelledError" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_is_one_line_and_status_2(command: str, busy_port: int) -> None:
    result = subprocess.run(
        [RXSTREAM, command, "--port", str(busy_port)], capture_output=True, text=True, timeout=120
    )
    line = _assert_one_clean_line(result.stderr)
    assert result.returncode == 2
    assert line == f"rxstream {command}: error: setting 'port': cannot listen on 127.0.0.1:{busy_port}: " \
        "address already in use"


def test_import_csv_of_a_missing_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-quotes.csv"
    result = subprocess.run(
        [RXSTREAM, "import-csv", str(missing), "-o", str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, timeout=60,
    )
    line = _assert_one_clean_line(result.stderr)
    assert result.returncode == 2
    assert str(missing) in line and "no such file" in line
    assert not (tmp_path / "out.jsonl").exists()


def test_replay_into_head_ends_quietly(session_file: Path) -> None:
    """The README's own example: ``rxstream replay ... | head -2``."""
    result = subprocess.run(
        f'"{RXSTREAM}" replay "{session_file}" --pipeline signals | head -2',
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith('{"format":"rxstream.ticks"')


def test_replay_stops_soon_after_its_reader_leaves(session_file: Path) -> None:
    process = subprocess.Popen(
        [RXSTREAM, "replay", str(session_file), "--pipeline", "price_updates"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stdout.readline().startswith('{"format"')
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert stderr == "" and process.returncode == 0


def _importing(pid: int) -> bool:
    """Whether the command has reached its own imports (the loop's C module is mapped)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "_asyncio" in maps or "orjson" in maps


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the command start")
@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("after", [0.0, 1.0])
def test_ctrl_c_in_the_first_moments_is_quiet(command: str, after: float) -> None:
    process = subprocess.Popen(
        [RXSTREAM, command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RXSTREAM_LOG_LEVEL": "WARNING"},
    )
    try:
        # Nothing is said this early: /proc is the only witness (polling.wait_until).
        wait_until(lambda: _importing(process.pid) or process.poll() is not None, timeout=60,
                   what="the command to start")
        with contextlib.suppress(subprocess.TimeoutExpired):  # Ctrl-C ``after`` seconds in, unless it ended already
            process.wait(timeout=after)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr
    assert process.returncode in (0, 130), stderr
    if process.returncode == 130:
        assert stderr.strip() == f"rxstream {command}: interrupted"


def test_ctrl_c_once_the_demo_runs_stops_it_cleanly() -> None:
    process = subprocess.Popen(
        [RXSTREAM, "demo", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("rxstream demo — http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr


def test_ctrl_c_as_serve_starts_on_a_broker_is_not_an_error() -> None:
    """Stopping while the IBKR feed still connects cancels the connect: that is the stop, not a failure."""
    sim = subprocess.Popen([RXSTREAM, "sim", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().split(" on ", 1)[1].split()[0].rsplit(":", 1)[1]
        serve = subprocess.Popen(
            [RXSTREAM, "serve", "--ibkr", f"127.0.0.1:{port}", "--port", "0"],
            stderr=subprocess.PIPE, text=True,
        )
        assert serve.stderr is not None
        seen = []
        while not seen or "serving on" not in seen[-1]:
            seen.append(serve.stderr.readline())
            assert seen[-1], "".join(seen)
        serve.send_signal(signal.SIGINT)
        _, rest = serve.communicate(timeout=60)
        stderr = "".join(seen) + rest
        assert serve.returncode == 0, stderr
        assert "Traceback" not in stderr and "CancelledError" not in stderr and " ERROR " not in stderr, stderr
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=60)


def test_top_of_a_missing_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [RXSTREAM, "top", "--file", str(tmp_path / "nope.jsonl"), "--seconds", "1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "nope.jsonl: no such file" in _assert_one_clean_line(result.stderr)
