"""One ingest and several gateways as real ``rxstream`` processes on a real redis-server.

Every check here kills, restarts or refuses a real process, and reads what real
WebSocket clients received.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis_support import RedisServer, eventually, free_port, running_redis

from rxstream.events import Fill, Tick
from rxstream.tickfile import write_events

N_FILLS = 40
WINDOW = "100000"  # messages per topic: the whole test fits, so clients may resume from seq 0
PIPELINES = '''
from operator import attrgetter

from rxstream import Pipeline
from rxstream import operators as rxo

pipelines = [
    Pipeline("ticks", lambda ctx: ctx.source("ticks"), sources=("ticks",)),
    Pipeline("trades", lambda ctx: ctx.source("fills").pipe(rxo.dedupe(attrgetter("exec_id"))), sources=("fills",)),
]
'''


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A pipelines folder (every tick, every fill once) and a session: 200 ticks/s for 100 s, fills first."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "streams.py").write_text(PIPELINES)
    t0 = datetime(2024, 1, 2, 9, tzinfo=UTC)
    events: list[Any] = []
    for i in range(20_000):
        t = t0 + timedelta(milliseconds=5 * i)
        events.append(Tick("EURUSD", t, round(1.1 + i * 1e-6, 6), round(1.1002 + i * 1e-6, 6)))
        if i % 20 == 0 and i // 20 < N_FILLS:
            n = i // 20 + 1
            events.append(Fill(f"0001f4e5.{n:04d}.01", n, "DU1", "EURUSD", "BUY", 1000.0, 1.1, 0.5, t))
    write_events(tmp_path / "session.jsonl", events, source="test")
    return tmp_path


class Process:
    """One ``rxstream`` subcommand in a child process; what it logs is read as it comes (and kept in a file)."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self._lines: list[str] = []
        self._said = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None

    async def start(self) -> Process:
        self._out = self.log.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rxstream.cli", *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, limit=1 << 20,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._follower = asyncio.get_running_loop().create_task(self._follow())
        return self

    async def _follow(self) -> None:
        """Read the process's output to its end: keep each line, write it to the log file, announce it."""
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self._out.write(line)
            self._out.flush()
            self._lines.append(line.decode(errors="replace"))
            self._said.set()
        self._said.set()  # the end: nothing more will be said

    def text(self) -> str:
        return "".join(self._lines)

    async def logged(self, needle: str, *, count: int = 1, timeout: float = 20.0) -> None:
        """Return once the process has logged ``needle`` ``count`` times; fail after ``timeout`` seconds."""
        assert self._follower is not None
        async with asyncio.timeout(timeout):
            while self.text().count(needle) < count:
                assert not self._follower.done(), f"ended without logging {needle!r}:\n{self.text()}"
                self._said.clear()
                await self._said.wait()

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.process is not None and self._follower is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
            await self._follower  # its output to the end
        self._out.close()
        return code

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.running:
            await process.stop(signal.SIGKILL)


def ingest(project: Path, server: RedisServer, *extra: str) -> list[str]:
    return ["ingest", "--bus", server.url, "--pipelines", str(project / "pipelines"),
            "--replay-file", str(project / "session.jsonl"), "--replay-loop", "false", "--history-size", WINDOW, *extra]


async def launch(processes: list[Process], log: Path, *args: str) -> Process:
    process = await Process(log, *args).start()
    processes.append(process)
    return process


async def gateway(processes: list[Process], tmp: Path, server: RedisServer, name: str) -> tuple[Process, int]:
    port = free_port()
    process = await launch(processes, tmp / f"{name}.log", "gateway", "--bus", server.url, "--port", str(port),
                           "--history-size", WINDOW)
    await process.logged("serving on")
    return process, port


class Reader:
    """Messages of a real WebSocket, arrays split (the schema is checked by the gateway's own tests: here it would
    cost more CPU than the processes under test)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.buffer: list[dict[str, Any]] = []

    async def next(self, timeout: float) -> dict[str, Any]:
        while not self.buffer:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"closed with {self.ws.close_code}")
            frame = json.loads(msg.data)
            self.buffer.extend(frame if isinstance(frame, list) else [frame])
        return self.buffer.pop(0)

    async def until(self, type_: str, timeout: float) -> dict[str, Any]:
        while (message := await self.next(timeout))["type"] != type_:
            pass
        return message


class Client:
    """A WebSocket client that keeps every data message per topic and resumes with epoch + since."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.data: dict[str, list[dict[str, Any]]] = {"ticks": [], "trades": []}
        self.epoch: str | None = None
        self.replies: list[dict[str, Any]] = []
        self.reader: Reader | None = None

    async def connect(self, port: int, topics: tuple[str, ...] = ("ticks", "trades")) -> None:
        ws = await self.session.ws_connect(f"http://127.0.0.1:{port}/ws")
        self.reader = Reader(ws)
        welcome = await self.reader.next(timeout=10)
        self.epoch = self.epoch or welcome["epoch"]
        since = {t: self.data[t][-1]["seq"] if self.data[t] else 0 for t in topics}
        await ws.send_json({"type": "subscribe", "topics": list(topics), "epoch": self.epoch, "since": since})
        self.replies.append(await self.reader.until("subscribed", timeout=30))

    async def read(self, topic: str, until_seq: int, timeout: float = 30.0) -> None:
        assert self.reader is not None
        while not self.data[topic] or self.data[topic][-1]["seq"] < until_seq:
            message = await self.reader.next(timeout=timeout)
            if message["type"] == "data":
                self.data[message["topic"]].append(message)

    async def read_until_closed(self) -> None:
        assert self.reader is not None
        try:
            while True:
                message = await self.reader.next(timeout=30)
                if message["type"] == "data":
                    self.data[message["topic"]].append(message)
        except (ConnectionError, aiohttp.ClientError):
            return

    def seqs(self, topic: str) -> list[int]:
        return [m["seq"] for m in self.data[topic]]


async def status(session: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with session.get(f"http://127.0.0.1:{port}/websocket/status") as response:
        return await response.json()  # type: ignore[no-any-return]


async def test_two_gateways_serve_one_numbering_and_a_killed_ones_clients_resume_on_the_other(
    project: Path, redis_server: RedisServer, processes: list[Process]
) -> None:
    tmp = project
    feeder = await launch(processes, tmp / "ingest.log", *ingest(project, redis_server))
    await feeder.logged("ingest writing")
    (_, port_a), (gw_b, port_b) = await asyncio.gather(
        gateway(processes, tmp, redis_server, "a"), gateway(processes, tmp, redis_server, "b"))
    async with aiohttp.ClientSession() as session:
        on_a, on_b, moving = Client(session), Client(session), Client(session)
        await asyncio.gather(on_a.connect(port_a), on_b.connect(port_b), moving.connect(port_b))
        await asyncio.gather(on_a.read("ticks", 600), on_b.read("ticks", 600), moving.read("ticks", 300))
        await asyncio.gather(on_a.read("trades", N_FILLS), on_b.read("trades", N_FILLS))
        for topic in ("ticks", "trades"):
            n = min(len(on_a.data[topic]), len(on_b.data[topic]))
            assert n >= (600 if topic == "ticks" else N_FILLS)
            assert on_a.data[topic][:n] == on_b.data[topic][:n]  # same epoch, seq, time and payload
            assert on_a.seqs(topic)[:n] == list(range(1, n + 1))
        # SIGKILL gateway b mid-stream: its client comes over to a with epoch + since
        await gw_b.stop(signal.SIGKILL)
        await moving.read_until_closed()
        left_at = moving.seqs("ticks")[-1]
        await moving.connect(port_a)
        assert moving.replies[-1]["recovered"] is True
        await moving.read("ticks", left_at + 400)
        assert moving.seqs("ticks") == list(range(1, left_at + 401)[: len(moving.seqs("ticks"))])  # no gap, no dup
        assert moving.seqs("ticks")[-1] >= left_at + 400
        assert moving.data["ticks"][: len(on_a.data["ticks"])] == on_a.data["ticks"][: len(moving.data["ticks"])]


async def test_ingest_restart_keeps_the_numbering_refuses_a_second_writer_and_a_standby_takes_over(
    project: Path, redis_server: RedisServer, processes: list[Process]
) -> None:
    tmp = project
    first = await launch(processes, tmp / "ingest1.log", *ingest(project, redis_server, "--lease-seconds", "1"))
    await first.logged("ingest writing")
    _, port = await gateway(processes, tmp, redis_server, "gw")
    async with aiohttp.ClientSession() as session:
        client = Client(session)
        await client.connect(port)
        await client.read("trades", N_FILLS)
        await client.read("ticks", 300)
        # a second ingest on the same bus is refused: one line, exit status 2
        second = await launch(processes, tmp / "ingest2.log", *ingest(project, redis_server))
        assert await asyncio.wait_for(second.process.wait(), 20) == 2  # type: ignore[union-attr]
        lines = [line for line in second.text().splitlines() if line.strip()]
        assert len(lines) == 1 and "--standby" in lines[0] and lines[0].startswith("rxstream ingest: error:")
        # SIGTERM, start again: same epoch, seq continues, the session's fills are not published again
        epoch = client.epoch
        assert await first.stop(signal.SIGTERM) == 0
        before = client.seqs("ticks")[-1]
        again = await launch(processes, tmp / "ingest3.log", *ingest(project, redis_server, "--lease-seconds", "1"))
        await again.logged(f"epoch {epoch}")
        await client.read("ticks", before + 500)
        # a standby waits while `again` holds the lease, and takes over when it is killed
        standby = await launch(processes, tmp / "standby.log",
                               *ingest(project, redis_server, "--standby", "--lease-seconds", "1"))
        await standby.logged("waiting")
        await again.stop(signal.SIGKILL)
        await standby.logged("lease taken over")
        await standby.logged(f"epoch {epoch}")
        reached = client.seqs("ticks")[-1]
        await client.read("ticks", reached + 300)
        assert client.seqs("ticks") == list(range(1, len(client.seqs("ticks")) + 1))  # never a gap or a duplicate
        assert client.epoch == epoch and all(m["epoch"] == epoch for m in client.data["ticks"])
        assert client.seqs("trades") == list(range(1, N_FILLS + 1))  # three runs of the session, each fill once
        assert len({m["data"]["exec_id"] for m in client.data["trades"]}) == N_FILLS
        assert (await status(session, port))["topics"]["trades"]["last_seq"] == N_FILLS


async def test_a_redis_restart_keeps_every_process_and_client_and_loses_nothing(
    project: Path, redis_server: RedisServer, processes: list[Process]
) -> None:
    tmp = project
    feeder = await launch(processes, tmp / "ingest.log", *ingest(project, redis_server))
    await feeder.logged("ingest writing")
    gw, port = await gateway(processes, tmp, redis_server, "gw")
    async with aiohttp.ClientSession() as session:
        client = Client(session)
        await client.connect(port, topics=("ticks",))
        await client.read("ticks", 200)
        redis_server.stop()

        async def bus_health() -> dict[str, Any]:
            return (await status(session, port))["stream_health"]["bus"]  # type: ignore[no-any-return]

        down = await eventually(lambda: _unhealthy(bus_health()))
        assert "redis unreachable" in down["last_error"] and down["lag_seconds"] >= 0
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
        assert 'rxstream_stream_healthy{stream="bus"} 0.0' in metrics
        assert 'rxstream_stream_lag_seconds{stream="bus"}' in metrics
        assert feeder.running and gw.running
        redis_server.start()
        await eventually(lambda: _healthy(bus_health()), timeout=30)
        reached = client.seqs("ticks")[-1]
        await client.read("ticks", reached + 400)
        assert client.seqs("ticks") == list(range(1, len(client.seqs("ticks")) + 1))
        assert feeder.running and gw.running
        health = (await status(session, port))["stream_health"]
        assert health["ticks"]["is_healthy"] and health["bus_publish"]["total_updates"] > 0  # the ingest's, via Redis


async def _unhealthy(entry: Any) -> dict[str, Any] | None:
    value = await entry
    return value if value["is_healthy"] is False else None


async def _healthy(entry: Any) -> bool:
    return bool((await entry)["is_healthy"])
