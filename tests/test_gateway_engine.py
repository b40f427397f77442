"""The real engine behind the gateway: a recorded file replayed through the pipelines to /ws clients."""

from __future__ import annotations

import asyncio
import math
import os
import signal as signals
import sys
from datetime import timedelta

import aiohttp
from gateway_helpers import T0, Reader, fill
from gateway_helpers import signal as make_signal

from rxstream.events import Tick
from rxstream.gateway.app import create_app
from rxstream.settings import Settings
from rxstream.tickfile import write_events
from rxstream.wiring import engine_backend

N_FILLS = 25
N_SIGNALS = 20


def session_file(path) -> str:
    """ticks every 100 ms for 60 s on two symbols, with signals and fills among them."""
    events = []
    for i in range(600):
        t = T0 + timedelta(milliseconds=100 * i)
        for symbol, base in (("EURUSD", 1.12), ("GBPUSD", 1.31)):
            bid = round(base + 0.001 * math.sin(i / 30), 5)
            events.append(Tick(symbol, t, bid, round(bid + 0.0002, 5)))
        if i % 30 == 5 and i // 30 < N_SIGNALS:
            events.append(make_signal(i // 30 + 1)._replace(time=t))
        if i % 24 == 3 and i // 24 < N_FILLS:
            events.append(fill(i // 24 + 1)._replace(time=t))
    write_events(path, events, source="test")
    return str(path)


async def test_replay_through_pipelines_reaches_clients_with_contiguous_seq(aiohttp_server, tmp_path) -> None:
    settings = Settings(replay_file=session_file(tmp_path / "session.jsonl"), replay_speed=30, replay_loop=False,
                        pipeline_settings=("price_update_interval=0.2",))
    server = await aiohttp_server(create_app(settings, backend=engine_backend(settings)))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        welcome = await reader.next()
        assert {"price_updates", "portfolio_updates", "signals", "trade_executions"} <= set(welcome["topics"])
        # the engine ran before we connected: resume from 0 to get every signal and trade from seq 1
        await ws.send_json({"type": "subscribe", "topics": ["price_updates", "signals", "trade_executions"],
                            "epoch": welcome["epoch"], "since": {"signals": 0, "trade_executions": 0}})
        seqs: dict[str, list[int]] = {"price_updates": [], "signals": [], "trade_executions": []}
        symbols = set()
        while len(seqs["trade_executions"]) < N_FILLS or len(seqs["signals"]) < N_SIGNALS:
            msg = await reader.next(timeout=10)
            if msg["type"] == "data":
                seqs[msg["topic"]].append(msg["seq"])
                if msg["topic"] == "price_updates":
                    symbols.add(msg["data"]["symbol"])
        assert seqs["trade_executions"] == list(range(1, N_FILLS + 1))
        assert seqs["signals"] == list(range(1, len(seqs["signals"]) + 1))  # ours and the crossover's
        assert seqs["price_updates"] == sorted(seqs["price_updates"]) and symbols == {"EURUSD", "GBPUSD"}
        async with session.get(server.make_url("/websocket/status")) as response:
            status = await response.json()
        assert status["stream_health"]["trade_executions"]["total_updates"] == N_FILLS
        assert status["topics"]["trade_executions"]["last_seq"] == N_FILLS
        await ws.close()


async def test_serve_command_runs_and_shuts_down_with_1001() -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "serve", "--port", str(port), "--replay-speed", "60",
        env={**os.environ, "RXSTREAM_PIPELINE_SETTINGS": "price_update_interval=0.2"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 20)  # logged once listening
        assert b"serving on" in line, line
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws")
            reader = Reader(ws)
            await reader.next()
            await ws.send_json({"type": "subscribe", "topics": ["price_updates"]})
            data = await reader.until("data", timeout=10)
            assert data["data"]["symbol"] == "EURUSD"
            process.send_signal(signals.SIGINT)
            assert await reader.closed(timeout=10) == 1001
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_serve_refuses_bad_settings_naming_them() -> None:
    import subprocess

    result = subprocess.run([sys.executable, "-m", "rxstream.cli", "serve", "--ping-interval", "soon"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "ping_interval" in result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
