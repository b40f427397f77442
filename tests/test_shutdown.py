"""The one stop-signal helper: every long-running command stops cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from test_cli_failures import RXSTREAM

from rxstream.tickfile import read_events


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sim_and_record_stop_cleanly_on_a_stop_signal(sig: signal.Signals, tmp_path: Path) -> None:
    sim = subprocess.Popen([RXSTREAM, "sim", "--port", "0", "--speed", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None and sim.stderr is not None
        port = sim.stdout.readline().split(" on ", 1)[1].split()[0].rsplit(":", 1)[1]
        out = tmp_path / "session.jsonl"
        record = subprocess.Popen(
            [RXSTREAM, "record", "--ibkr", f"127.0.0.1:{port}", "--symbols", "EURUSD", "-o", str(out),
             "--count", "1000000"],
            stderr=subprocess.PIPE, text=True,
        )
        assert record.stderr is not None
        assert record.stderr.readline().startswith("recording EURUSD")
        record.send_signal(sig)  # as soon as it says it records: the connect may still be under way
        _, rest = record.communicate(timeout=60)
        assert record.returncode == 0, rest
        assert "Traceback" not in rest and "CancelledError" not in rest, rest
        assert rest.strip().startswith("wrote ") and rest.strip().endswith(f"events to {out}")
        list(read_events(out))  # a complete tick file, however early it stopped
    finally:
        sim.send_signal(sig)
        _, err = sim.communicate(timeout=60)
    assert sim.returncode == 0
    assert "Traceback" not in err, err
