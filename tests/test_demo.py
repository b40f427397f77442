"""``rxstream demo``: every panel of the dashboard has data within seconds, over the real chain."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import orjson
from gateway_helpers import check_server

from rxstream.demo import run_demo

TOPICS = ["price_updates", "portfolio_updates", "signals", "trade_executions"]


async def test_the_demo_chain_feeds_every_topic_and_stays_healthy() -> None:
    stop = asyncio.Event()
    started: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    demo = asyncio.create_task(
        run_demo(port=0, speed=1200, stop=stop, ready=lambda url, sim: started.set_result((url, sim)))
    )
    url, _ = await asyncio.wait_for(started, timeout=20)
    seen: dict[str, list[Any]] = {topic: [] for topic in TOPICS}
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url + "ws") as ws:
            await ws.send_str(orjson.dumps({"type": "subscribe", "topics": TOPICS}).decode())

            async def until_every_topic_has_data() -> None:
                while not all(seen.values()):
                    decoded = orjson.loads(await ws.receive_str())
                    for message in decoded if isinstance(decoded, list) else [decoded]:
                        check_server(message)
                        if message["type"] == "data":
                            seen[message["topic"]].append(message["data"])
                        elif message["type"] == "snapshot" and message["items"]:
                            seen[message["topic"]].extend(message["items"])

            await asyncio.wait_for(until_every_topic_has_data(), timeout=60)
            async with http.get(url + "websocket/status") as response:
                status = await response.json()
    finally:
        stop.set()
        await asyncio.wait_for(demo, timeout=20)
    assert seen["price_updates"][0]["symbol"] == "EURUSD"
    assert {s["action"] for s in seen["signals"]} <= {"BUY", "SELL"}
    trade = seen["trade_executions"][0]
    assert trade["commission"] is not None and trade["side"] in ("BUY", "SELL")
    unhealthy = {name: h for name, h in status["stream_health"].items() if not h["is_healthy"]}
    assert not unhealthy
    assert {"ibkr.ticks", "ibkr.fills", "autotrade", "price_updates"} <= set(status["stream_health"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_stops_the_demo_cleanly() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rxstream.cli", "demo", "--port", str(port), "--speed", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once everything listens
        assert banner.startswith(f"rxstream demo — http://127.0.0.1:{port}/")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
