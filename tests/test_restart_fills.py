"""Every fill once, across server restarts, on the IBKR path: ``rxstream serve --ibkr`` over the TWS simulator.

The simulator runs in the test; the server is a real ``rxstream serve --ibkr`` process. Each restart
is a new process, so a new epoch, whose IBKR feed asks TWS for the day's executions again and
publishes them anew. The Python client (following the documented reset contract) and the
dashboard in Chromium must each end with every execution of the day exactly once, including the
one made while no server ran.

Executions are made as a manual TWS order would be (``TwsSimulator.fill``); the feed learns of
them when it asks for executions: on connect, and after error 1102 (connectivity restored),
which the test sends to make a running server pick them up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, ConsoleWatch, free_port, require_browser
from polling import eventually

from rxstream.client import StreamClient
from rxstream.events import Tick
from rxstream.operators import Backoff
from rxstream.testing.server import TwsSimulator

pytestmark = pytest.mark.browser

WAIT = 20.0  # s: the longest any condition may take (a process start included)
CLIENT_ID = 23


async def until(condition: Callable[[], Any], changed: asyncio.Event, what: str, timeout: float = WAIT) -> None:
    """Wait until ``condition`` holds, re-checking it each time ``changed`` is set; fail naming ``what``."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Server:
    """``rxstream serve --ibkr`` as a child process on a fixed port; each start is a new process."""

    def __init__(self, sim_port: int, port: int, log: Path) -> None:
        self.command = [
            str(Path(sys.executable).parent / "rxstream"), "serve", "--ibkr", f"127.0.0.1:{sim_port}",
            "--ibkr-client-id", str(CLIENT_ID), "--symbols", "EURUSD", "--port", str(port), "--log-level", "WARNING",
        ]
        self.url = f"http://127.0.0.1:{port}/"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, sim: TwsSimulator) -> None:
        """Start a new process; return once it serves and its feed is connected to the simulator."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        await sim.wait_for(lambda: any(s.client_id == CLIENT_ID and s.ready for s in sim.sessions), WAIT)
        async with aiohttp.ClientSession() as http:
            async def serving() -> bool:  # the status route answers once the server listens
                assert self.process is not None and self.process.poll() is None, self.log.read_text()
                try:
                    async with http.get(self.url + "websocket/status") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(serving, timeout=WAIT, what="the server to serve")

    async def stop(self, sim: TwsSimulator) -> None:
        """SIGTERM, as a service manager restarting it would; wait until it and its TWS session are gone."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.process.wait, WAIT)  # the exit status, as the kernel reports it
        self.process = None
        await sim.wait_for(lambda: not any(s.client_id == CLIENT_ID for s in sim.sessions), WAIT)


class Ledger:
    """The Python client's trade list, kept as docs/WEBSOCKET_USAGE.md says: reset empties it."""

    def __init__(self) -> None:
        self.exec_ids: list[str] = []
        self.resets = 0
        self.changed = asyncio.Event()
        """Set after every message the client received."""

    async def follow(self, client: StreamClient) -> None:
        async for message in client:
            if message["type"] == "subscribed" and message["reset"]:
                self.exec_ids.clear()
                self.resets += 1
            elif message["type"] == "snapshot":
                self.exec_ids.extend(item["data"]["exec_id"] for item in message["items"])
            elif message["type"] == "data":
                self.exec_ids.append(message["data"]["exec_id"])
            self.changed.set()


async def test_every_fill_once_across_ibkr_server_restarts(tmp_path: Path) -> None:
    async_playwright = require_browser()
    console = ConsoleWatch()
    async with TwsSimulator(speed=0) as sim:
        sim.push_tick(Tick("EURUSD", datetime.now(UTC), 1.1212, 1.1214))
        server = Server(sim.port, free_port(), tmp_path / "serve.log")
        day: list[str] = []

        def execute(side: str) -> None:
            day.append(sim.fill("EURUSD", side, 10_000).exec_id)

        async def tell_running_server() -> None:
            assert sim.send_error(1102) == 1  # connectivity restored: the feed asks for executions again

        await server.start(sim)
        try:
            client = StreamClient(server.url + "ws", ["trade_executions"],
                                  backoff=Backoff(initial=0.05, factor=2.0, maximum=0.5, jitter=0.0))
            ledger = Ledger()
            async with client, async_playwright() as pw:
                follower = asyncio.create_task(ledger.follow(client))
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page()
                console.attach(page)
                await page.goto(server.url)
                await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)

                async def both_hold_the_day() -> None:
                    await until(lambda: sorted(ledger.exec_ids) == sorted(day), ledger.changed,
                                f"the Python client to hold {day}")
                    await page.wait_for_function(
                        "ids => { const shown = window.rxdash.tradeIds();"
                        " return shown.length === ids.length && ids.every((id) => shown.includes(id)); }",
                        arg=day, timeout=WAIT * 1000)

                execute("BUY")
                execute("SELL")
                await tell_running_server()
                await both_hold_the_day()

                for restart in range(2):
                    console.outage = True
                    await server.stop(sim)
                    execute("BUY")  # while no server runs: the next one must still publish it
                    await server.start(sim)
                    await until(lambda n=restart: ledger.resets == n + 1, ledger.changed, "the Python client to reset")
                    await page.wait_for_function(f"() => window.rxdash.state.epochChanges === {restart + 1}",
                                                 timeout=WAIT * 1000)
                    await both_hold_the_day()
                    console.outage = False
                    execute("SELL")  # while the new server runs
                    await tell_running_server()
                    await both_hold_the_day()

                shown = await page.evaluate("window.rxdash.tradeIds()")
                await browser.close()
                follower.cancel()
        finally:
            await server.stop(sim)
    assert len(day) == 6 and len(set(day)) == 6
    assert sorted(ledger.exec_ids) == sorted(day) and len(ledger.exec_ids) == len(set(ledger.exec_ids))
    assert sorted(shown) == sorted(day) and len(shown) == len(set(shown))
    assert console.errors == [], console.errors
