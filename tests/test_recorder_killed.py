"""A recorder killed with SIGKILL leaves a file that replays every event older than about a second.

The real ``rxstream record`` runs in a subprocess against the TWS simulator;
the test waits on the simulator for the recorder's session, polls the file it
writes where only the file can tell (``polling.eventually``: the recorder says
nothing when it flushes), kills the process with SIGKILL and reads what is left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from polling import eventually

from rxstream.events import Tick
from rxstream.testing import TwsSimulator
from rxstream.tickfile import ReadStats, read_events

T = datetime(2020, 1, 1, 22, tzinfo=UTC)
CLIENT_ID = 11


def readable_bids(path: Path) -> list[float]:
    """The bids of the ticks a reader gets from ``path`` now (skipping whatever is cut)."""
    if not path.exists():
        return []
    try:
        return [e.bid for e in read_events(path, skip_bad=True) if isinstance(e, Tick) and e.bid is not None]
    except Exception:  # no complete header yet
        return []


async def start_recorder(port: int, path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "record", "--ibkr", f"127.0.0.1:{port}", "--symbols", "EURUSD",
        "-o", str(path), "--client-id", str(CLIENT_ID),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


async def kill(process: asyncio.subprocess.Process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL


async def test_a_recorder_killed_while_recording_leaves_every_older_event_readable(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    async with TwsSimulator(speed=0) as sim:
        process = await start_recorder(sim.port, path)
        try:
            await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1, timeout=30)
            sent = [round(2.0 + i / 10_000, 4) for i in range(5)]  # apart from the simulator's own quotes
            for i, bid in enumerate(sent):  # one at a time: the broker API coalesces a burst into one update
                sim.push_tick(Tick("EURUSD", T + timedelta(seconds=i), bid, bid + 0.0002))
                # Nothing more arrives: the flusher alone must make it readable while the process lives.
                await eventually(lambda bid=bid: bid in readable_bids(path), timeout=15, what=f"bid {bid} on disk")
            for i in range(50):  # a burst in flight at the moment of the kill
                sim.push_tick(Tick("EURUSD", T + timedelta(seconds=300 + i), 1.3, 1.3002))
        finally:
            await kill(process)
    stats = ReadStats()
    bids = [e.bid for e in read_events(path, skip_bad=True, stats=stats) if isinstance(e, Tick)]
    assert [b for b in bids if b in set(sent)] == sent  # every one of them, once, in order
    assert stats.skipped <= 1  # at most the cut at the end, and then it says so
    assert all("cut the rest" in reason for reason in stats.reasons)


async def test_a_recorder_killed_before_any_event_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "early.jsonl.gz"
    async with TwsSimulator(speed=0) as sim:
        process = await start_recorder(sim.port, path)
        try:
            # The recorder writes and flushes the file's header before it connects to the broker.
            await sim.wait_for(lambda: any(s.client_id == CLIENT_ID for s in sim.sessions), timeout=30)
        finally:
            await kill(process)
    stats = ReadStats()
    list(read_events(path, skip_bad=True, stats=stats))  # no error: the header is complete
    assert stats.header["format"] == "rxstream.ticks"
