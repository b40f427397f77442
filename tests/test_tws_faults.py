"""Scheduled faults: the ``--fault`` syntax, each fault against the real ib_insync client over TCP,
and ``rxstream sim --fault`` run as a user runs it."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tws_support import next_event, sim_command

from rxstream.errors import ConfigError
from rxstream.ibkr.api import IB, Forex
from rxstream.testing import TwsSimulator
from rxstream.testing.faults import Fault, apply, next_at, parse_duration, parse_fault, run_faults, schedule


@pytest.mark.parametrize(
    ("text", "fault"),
    [("30s:drop", Fault(30, "drop")), ("30:drop", Fault(30, "drop")), ("1m30s:drop", Fault(90, "drop")),
     ("45s:error=1101", Fault(45, "error", 1101)), ("2m:refuse=10", Fault(120, "refuse", 10)),
     ("0:reject=2", Fault(0, "reject", 2)), ("1.5:stall=1m", Fault(1.5, "stall", 60)),
     ("30s:drop@60s", Fault(30, "drop", every=60)), (" 10s : ERROR=2103 @1m", Fault(10, "error", 2103, 60))],
)
def test_parse(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault
    assert parse_fault(fault.describe()) == fault


@pytest.mark.parametrize(
    ("text", "words"),
    [("drop", "WHEN:WHAT"), ("30s:explode", "unknown fault"), ("30s:drop=1", "without a value"),
     ("30s:error", "error=VALUE"), ("30s:error=lost", "numeric TWS code"), ("30s:reject=0", "count"),
     ("x:drop", "not a duration"), ("30s:refuse=soon", "not a duration"), ("30s:drop@0", "positive"),
     ("", "WHEN:WHAT")],
)
def test_parse_names_the_mistake(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        parse_fault(text)
    assert info.value.setting == "fault"


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "1m30s", "1.5m", "2h", "1h1m1s")] == [90, 90, 90, 90, 7200, 3661]


def test_schedule_expands_repeats_in_time_order() -> None:
    faults = [parse_fault("10:drop@20"), parse_fault("15:error=1100"), parse_fault("100:error=1102")]
    assert [(f.at, f.kind) for f in schedule(faults, until=60)] == [
        (10, "drop"), (15, "error"), (30, "drop"), (50, "drop"),
    ]
    assert next_at(Fault(10, "drop", every=20), 60) == 70 and next_at(Fault(10, "drop", every=20), 5) == 10


class Recorder:
    """A fault target that records what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def drop_connections(self) -> int:
        self.calls.append(("drop",))
        return 2

    def refuse_connections(self, *, times: int | None = None, seconds: float | None = None) -> None:
        self.calls.append(("refuse", times, seconds))

    def send_error(self, code: int, message: str | None = None, *, req_id: int = -1) -> int:
        self.calls.append(("error", code))
        return 1

    def stall(self, seconds: float) -> None:
        self.calls.append(("stall", seconds))


def test_apply_each_kind() -> None:
    target = Recorder()
    lines = [apply(target, parse_fault(t)) for t in ("0:drop", "0:refuse=3", "0:reject=2", "0:error=1100", "0:stall=4")]
    assert target.calls == [("drop",), ("refuse", None, 3.0), ("refuse", 2, None), ("error", 1100), ("stall", 4.0)]
    assert lines[0] == "dropped 2 connection(s)" and lines[3] == "sent error 1100 to 1 client(s)"




@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    async with TwsSimulator(speed=0) as simulator:
        yield simulator


async def connect(port: int, client_id: int = 1) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=2)
    return ib


async def test_scheduled_errors_then_a_drop_reach_the_client(sim: TwsSimulator) -> None:
    ib = await connect(sim.port)
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, *_: codes.append(code)
    gone = next_event(ib.disconnectedEvent)
    faults = [parse_fault(t) for t in ("0.05:error=1100", "0.1:error=2103", "0.15:error=2104", "0.2:error=1102",
                                       "0.25:drop")]
    await asyncio.wait_for(run_faults(sim, faults, report=False), 5)
    await asyncio.wait_for(gone, 2)
    assert codes == [1100, 2103, 2104, 1102]


async def test_scheduled_refusal_then_the_port_comes_back(sim: TwsSimulator) -> None:
    await asyncio.wait_for(run_faults(sim, [parse_fault("0:refuse=0.3")], report=False), 2)
    assert not sim.listening
    with pytest.raises(ConnectionRefusedError):
        await connect(sim.port)
    await sim.wait_for(lambda: sim.listening, timeout=3)
    ib = await connect(sim.port)
    assert ib.isConnected()
    ib.disconnect()


async def test_a_fault_the_simulator_cannot_inflict_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    sim = TwsSimulator(speed=0)  # never started: nothing listens, so nothing can be refused
    await asyncio.wait_for(run_faults(sim, [parse_fault("0:refuse=1"), parse_fault("0:error=1100")]), 2)
    lines = capsys.readouterr().out.splitlines()
    assert "refuse: not done:" in lines[0] and "sent error 1100 to 0 client(s)" in lines[1]


async def test_a_refusal_during_a_refusal_moves_its_end(sim: TwsSimulator) -> None:
    faults = [parse_fault("0:refuse=30"), parse_fault("0.05:refuse=0.2")]  # the second ends both
    await asyncio.wait_for(run_faults(sim, faults, report=False), 2)
    assert not sim.listening
    await sim.wait_for(lambda: sim.listening, timeout=3)
    ib = await connect(sim.port)
    assert ib.isConnected()
    ib.disconnect()


async def test_scheduled_reject_closes_the_next_connection(sim: TwsSimulator) -> None:
    await asyncio.wait_for(run_faults(sim, [parse_fault("0:reject=1")], report=False), 2)
    with pytest.raises(asyncio.TimeoutError):
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=0.5)
    assert sim.refused == 1
    ib = await connect(sim.port)
    assert ib.isConnected()
    ib.disconnect()


async def test_stall_holds_requests_and_ticks_until_it_ends(sim: TwsSimulator) -> None:
    ib = await connect(sim.port)
    await asyncio.wait_for(run_faults(sim, [parse_fault("0:stall=60")], report=False), 2)
    assert sim.stalled and ib.isConnected()
    answer = asyncio.ensure_future(ib.reqCurrentTimeAsync())
    ib.reqMktData(Forex("EURUSD", conId=12087792))  # qualified: ib_async subscribes only with a conId
    await sim.wait_for(lambda: sim.stalled_reads >= 1)
    assert not answer.done() and sim.subscribers("EURUSD") == 0  # received, not answered
    sim.resume()
    assert (await asyncio.wait_for(answer, 2)).tzinfo is not None
    await sim.wait_for(lambda: sim.subscribers("EURUSD") == 1)
    ib.disconnect()


async def test_repeating_fault(sim: TwsSimulator) -> None:
    ib = await connect(sim.port)
    codes: list[int] = []
    third = next_event(ib.errorEvent, lambda req_id, code, *_: codes.append(code) or len(codes) == 3)
    task = asyncio.ensure_future(run_faults(sim, [parse_fault("0:error=2103@0.05")], report=False))
    try:
        await asyncio.wait_for(third, 5)
    finally:
        task.cancel()
    assert codes == [2103, 2103, 2103]
    ib.disconnect()


async def test_sim_command_with_faults_over_tcp() -> None:
    async with sim_command("--speed", "0", "--fault", "2s:error=1100", "--fault", "2.5s:error=1102",
                           "--fault", "3s:drop") as (sim, port, _):
        assert sim.stdout is not None
        ib = await connect(port)
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, *_: codes.append(code)
        gone = next_event(ib.disconnectedEvent)
        await asyncio.wait_for(gone, 15)
        assert codes == [1100, 1102]
        lines = [(await asyncio.wait_for(sim.stdout.readline(), 5)).decode() for _ in range(3)]
        assert "error 1100 to 1 client" in lines[0] and "error 1102" in lines[1] and "dropped 1" in lines[2]
        again = await connect(port)  # the simulator itself keeps serving
        assert again.isConnected()
        again.disconnect()


async def test_sim_command_refuses_a_bad_fault() -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "sim", "--port", "0", "--fault", "30s:explode",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(sim.communicate(), 30)
    assert sim.returncode == 2 and b"unknown fault 'explode'" in err and b"Traceback" not in err


def _pushed_health(frame: Any, stream: str) -> list[dict[str, Any]]:
    """The health entries of ``stream`` in one WebSocket frame of the ``stream_health`` topic (data or snapshot)."""
    messages = frame if isinstance(frame, list) else [frame]
    entries = []
    for message in messages:
        if message.get("type") == "snapshot":
            entries.extend(item["data"] for item in message["items"])
        elif message.get("type") == "data":
            entries.append(message["data"])
    return [entry for entry in entries if entry.get("stream") == stream]


async def _first_line_matching(stream: asyncio.StreamReader, pattern: str, timeout: float) -> re.Match[str]:
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            assert line, f"stream ended before a line matching {pattern!r}"
            match = re.search(pattern, line)
            if match:
                return match


async def test_serve_ibkr_health_goes_down_and_back_up_with_sim_faults() -> None:
    """docs/IBKR.md's walk-through: rxstream sim --fault … beside rxstream serve --ibkr …, two processes."""
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "sim", "--port", "0", "--speed", "60",
        "--fault", "1s:error=1100@8s", "--fault", "3s:error=1102@8s", "--fault", "5s:drop@8s",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    serve = None
    try:
        assert sim.stdout is not None
        sim_port = (await _first_line_matching(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)", 30))[1]
        serve = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rxstream.cli", "serve", "--port", "0", "--ibkr", f"127.0.0.1:{sim_port}",
            "--health-interval", "0.1",  # a reconnect takes less than the default second between health pushes
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert serve.stdout is not None
        web_port = (await _first_line_matching(serve.stdout, r"serving on http://127\.0\.0\.1:(\d+)", 30))[1]
        drain = asyncio.ensure_future(serve.stdout.read())  # keep the log pipe from filling up
        seen: list[tuple[bool, str]] = []  # ibkr.ticks (healthy, last_error) at each change, as the server pushes it
        async with aiohttp.ClientSession() as http, asyncio.timeout(60):
            async with http.ws_connect(f"http://127.0.0.1:{web_port}/ws") as ws:
                await ws.send_json({"type": "subscribe", "topics": ["stream_health"]})
                while not _went_down_and_up(seen, "1100") or not _went_down_and_up(seen, "disconnected"):
                    for health in _pushed_health(await ws.receive_json(), "ibkr.ticks"):
                        state = (health["is_healthy"], health["last_error"] or "")
                        if not seen or seen[-1] != state:
                            seen.append(state)
        drain.cancel()
    finally:
        for proc in (serve, sim):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 15)


def _went_down_and_up(seen: list[tuple[bool, str]], cause: str) -> bool:
    """Whether ``seen`` holds a healthy state, then a down one whose error names ``cause``, then healthy."""
    for i, (healthy, error) in enumerate(seen):
        if not healthy and cause in error and any(h for h, _ in seen[:i]) and any(h for h, _ in seen[i + 1:]):
            return True
    return False
