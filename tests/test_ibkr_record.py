"""Record from the simulator through IBKRFeed into a tick file; read the file back: the same events."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rxstream.events import Event, Fill, PositionUpdate, Tick
from rxstream.ibkr import IBKRConfig
from rxstream.ibkr.command import record
from rxstream.testing import TwsSimulator
from rxstream.tickfile import read_events

T = datetime(2020, 1, 1, 22, tzinfo=UTC)


class Seen(list[Event]):
    """Events as the recorder wrote them; ``await seen.until(predicate)`` re-checks on each one."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: list[tuple[Any, asyncio.Future[None]]] = []

    def add(self, event: Event) -> None:
        self.append(event)
        for predicate, future in self._waiters:
            if not future.done() and predicate():
                future.set_result(None)

    async def until(self, predicate: Any) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        if predicate():
            future.set_result(None)
        await asyncio.wait_for(future, 5)


def fast(port: int, **extra: Any) -> IBKRConfig:
    return IBKRConfig(port=port, symbols=["EURUSD"], backoff_initial=0.01, backoff_max=0.05, connect_timeout=1.0,
                      heartbeat_interval=0, **extra)


async def test_record_then_read_back_the_same_events(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl.gz"
    async with TwsSimulator(speed=0) as sim:
        sim.fill("EURUSD", "BUY", 5000, price=1.12)  # before the recorder connects: recovered at connect
        stop = asyncio.Event()
        seen = Seen()
        task = asyncio.ensure_future(record(fast(sim.port), path, stop=stop, on_event=seen.add))
        await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1)
        await seen.until(lambda: any(isinstance(e, Fill) for e in seen))
        for i in range(3):
            sim.push_tick(Tick("EURUSD", T, 1.1 + i / 100, 1.1002 + i / 100, None, 1e6, 1e6))
            await seen.until(lambda i=i: any(isinstance(e, Tick) and e.bid == 1.1 + i / 100 for e in seen))
        stop.set()
        written = await asyncio.wait_for(task, 5)
    back = list(read_events(path))
    assert back == seen and written == len(seen)
    kinds = {type(e) for e in back}
    assert kinds == {Tick, PositionUpdate, Fill}
    (fill,) = [e for e in back if isinstance(e, Fill)]
    assert (fill.side, fill.quantity, fill.price, fill.commission) == ("BUY", 5000.0, 1.12, 2.0)


async def test_record_command_against_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "cli.jsonl"
    async with TwsSimulator(speed=0) as sim:
        sim.push_tick(Tick("EURUSD", T, 1.1212, 1.1214))
        sim.fill("AAPL", "SELL", 10, price=190.0)
        # 2 positions + 1 recovered fill + the quote sent on subscribe
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rxstream.cli", "record", "--ibkr", f"127.0.0.1:{sim.port}", "--symbols",
            "EURUSD", "-o", str(path), "--count", "4", "--client-id", "9",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
    assert b"wrote 4 events" in err
    events = list(read_events(path))
    assert {type(e).__name__ for e in events} == {"PositionUpdate", "Fill", "Tick"}
    assert [e.bid for e in events if isinstance(e, Tick)] == [1.1212]


async def test_record_command_names_a_bad_address() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "record", "--ibkr", "localhost", "--symbols", "EURUSD", "-o", "x",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2 and b"--ibkr" in err and b"HOST:PORT" in err
