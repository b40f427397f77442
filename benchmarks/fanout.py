"""WebSocket fan-out: delivered messages/s and latency with N clients, against a naive baseline.

The server (this process) runs the real gateway app over an InMemoryBus; the clients run in
separate processes (``--client-processes``, 2 by default; aiohttp, one connection each, every
10th client parses every frame). For each N, two servers are measured in the same run:

* ``gateway``  -- rxstream's broadcaster: a shared log per topic, the same frame bytes for every
  client at the same place, one write per client per loop turn;
* ``baseline`` -- the naive loop: one ``send_str`` per client per message (serialized once).

A publisher pushes ``RATE`` messages/s in 10 ms bursts for ``SECONDS``; each message carries
its publish time, and clients report delivered count and p50/p99 latency (publish to
receipt). Each row prints the publish rate achieved (the publisher shares the server's loop, so a
slow server publishes less: throughput versus backpressure) and the server's CPU seconds per
million deliveries; ``srv p99`` is the gateway's own p99 from a message reaching it to its socket
write (its metrics histogram, a bucket bound), and ``client cpu`` the CPU seconds of the one client
processes together over the run plus 2 s each: near that wall time, the clients are the bottleneck and the
publish-to-client latency is their own queue. Idle memory per connection: RSS growth of a fresh server process (not this
one) for N idle connections.

    .venv/bin/python benchmarks/fanout.py                # 100 and 500 clients
    .venv/bin/python benchmarks/fanout.py --clients 50 --seconds 2 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

__all__ = ["main"]

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rxstream.bus import InMemoryBus, TopicSpec
from rxstream.gateway.app import METRICS, StaticBackend, create_app
from rxstream.settings import Settings

HISTORY = 100_000
"""The topic's history: a client is closed as slow past half of it (or queue_limit), so it is sized for the lag
the benchmark tolerates (about 2.5 s at 20,000 messages/s)."""


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --- clients (separate process) --------------------------------------------------------------


async def _clients(url: str, n: int, seconds: float, subscribe: bool, ready: Any, out: Any) -> None:
    latencies: list[float] = []
    counts = [0] * n
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = []
        for _ in range(n):
            ws = await session.ws_connect(url, max_msg_size=0)
            if subscribe:
                await ws.send_str('{"type":"subscribe","topics":["ticks"]}')
            sockets.append(ws)

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            sample = i % 10 == 0  # latency from every 10th client keeps the client process light
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                if not sample:  # count without parsing: the client process must not be the bottleneck
                    counts[i] += msg.data.count('"type":"data"')
                    continue
                frame = orjson.loads(msg.data)
                now = time.time()
                for m in frame if isinstance(frame, list) else (frame,):
                    if m.get("type") == "data":
                        counts[i] += 1
                        latencies.append(now - m["data"]["t"])

        tasks = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]
        ready.set()
        cpu0 = time.process_time()
        await asyncio.sleep(seconds + 2.0)
        cpu = time.process_time() - cpu0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    step = max(1, len(latencies) // 20_000)  # an even sample of the sorted latencies keeps the quantiles
    out.put({"delivered": sum(counts), "latencies": latencies[::step], "client_cpu": cpu})


def _client_process(url: str, n: int, seconds: float, subscribe: bool, ready: Any, out: Any) -> None:
    asyncio.run(_clients(url, n, seconds, subscribe, ready, out))


# --- servers -----------------------------------------------------------------------------------


def _gateway_app(bus: InMemoryBus, n: int) -> web.Application:
    settings = Settings(max_connections=n + 10, queue_limit=100_000, inbound_rate=1000, inbound_burst=1000)
    return create_app(settings, backend=StaticBackend(bus))


def _baseline_app(bus: InMemoryBus) -> web.Application:
    clients: set[web.WebSocketResponse] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    pending: list[asyncio.Task[None]] = []

    def on_message(message: Any) -> None:
        text = message.payload.decode()  # serialized once, like the gateway

        async def send_all() -> None:
            for ws in list(clients):
                try:
                    await ws.send_str(text)
                except ConnectionError:
                    clients.discard(ws)

        pending.append(asyncio.ensure_future(send_all()))

    async def attach(app: web.Application):
        unsubscribe = bus.subscribe(on_message)
        yield
        unsubscribe()

    app = web.Application()
    app.router.add_get("/ws", handler)
    app.cleanup_ctx.append(attach)
    return app


def _shares(n: int, k: int) -> list[int]:
    """``n`` clients split as evenly as can be over ``k`` processes."""
    return [n // k + (1 if i < n % k else 0) for i in range(min(k, n))]


async def _measure(kind: str, n: int, rate: int, seconds: float, client_processes: int) -> dict[str, Any]:
    bus = InMemoryBus()
    bus.declare(TopicSpec("ticks", "lossless", history=HISTORY))
    app = _gateway_app(bus, n) if kind == "gateway" else _baseline_app(bus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    processes, readies = [], []
    for share in _shares(n, client_processes):
        ready = ctx.Event()
        process = ctx.Process(target=_client_process, args=(f"http://127.0.0.1:{port}/ws", share, seconds,
                                                             kind == "gateway", ready, out))
        process.start()
        processes.append(process)
        readies.append(ready)
    while not all(r.is_set() for r in readies):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    burst = max(1, rate // 100)
    published = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    next_at = start
    while time.perf_counter() - start < seconds:
        now = time.time()
        for _ in range(burst):
            bus.publish("ticks", {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "t": now})
        published += burst
        next_at += 0.01
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    cpu = time.process_time() - cpu0
    loop = asyncio.get_running_loop()
    parts = [await loop.run_in_executor(None, out.get) for _ in processes]
    latencies = sorted(x for part in parts for x in part["latencies"])
    result: dict[str, Any] = {
        "delivered": sum(part["delivered"] for part in parts),
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "client_cpu": sum(part["client_cpu"] for part in parts),
    }
    # the gateway's own view: from a message reaching it to its socket write (bucket upper bound)
    result["server_p99"] = app[METRICS].latency.quantile(0.99) if kind == "gateway" else float("nan")
    for process in processes:
        process.join()
    await runner.cleanup()
    result.update(kind=kind, clients=n, published=published, expected=published * n,
                  rate=result["delivered"] / seconds, server_cpu=cpu, publish_rate=published / seconds,
                  cpu_per_million=cpu / max(result["delivered"], 1) * 1e6)
    return result


def _idle_server(n: int, port_out: Any, measure: Any, rss_out: Any) -> None:
    """A fresh server process: reports its port, then its RSS before and with ``n`` idle clients."""

    async def serve() -> None:
        bus = InMemoryBus()
        bus.declare(TopicSpec("ticks", "lossless"))
        runner = web.AppRunner(_gateway_app(bus, n), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        app = runner.app
        from rxstream.gateway.app import BROADCASTER

        broadcaster = app[BROADCASTER]
        await asyncio.sleep(0.2)
        before = _rss_kib()
        port_out.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, measure.wait)
        connected = len(broadcaster.channels)
        rss_out.put((before, _rss_kib(), connected))
        await runner.cleanup()

    asyncio.run(serve())


async def _idle_memory(n: int) -> tuple[float, int]:
    """RSS growth per idle connection of a fresh server process (gateway, welcome sent, no subscription)."""
    ctx = mp.get_context("spawn")
    port_out, measure, rss_out = ctx.Queue(), ctx.Event(), ctx.Queue()
    server = ctx.Process(target=_idle_server, args=(n, port_out, measure, rss_out))
    server.start()
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(None, port_out.get)
    ready, out = ctx.Event(), ctx.Queue()
    clients = ctx.Process(target=_client_process, args=(f"http://127.0.0.1:{port}/ws", n, 3.0, False, ready, out))
    clients.start()
    while not ready.is_set():
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    measure.set()
    before, after, connected = await loop.run_in_executor(None, rss_out.get)
    await loop.run_in_executor(None, out.get)
    clients.join()
    server.join()
    return (after - before) / max(connected, 1), connected


async def _main(args: argparse.Namespace) -> None:
    print(f"fan-out: {args.rate} msg/s published for {args.seconds} s, clients in {args.client_processes} processes,"
          f" medians of {args.repeat} runs; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    header = (
        ("clients", 7), ("server", 8), ("published/s", 12), ("delivered/s", 12), ("of expected", 11),
        ("p50 ms", 8), ("p99 ms", 8), ("srv p99", 8), ("cpu s", 6), ("cpu s/M", 8), ("client cpu", 10),
    )
    print(" ".join(f"{name:>{width}}" for name, width in header))
    for n in args.clients:
        rows: dict[str, list[dict[str, Any]]] = {"baseline": [], "gateway": []}
        for _ in range(args.repeat):
            for kind in ("baseline", "gateway"):
                rows[kind].append(await _measure(kind, n, args.rate, args.seconds, args.client_processes))
        medians = {}
        for kind, results in rows.items():
            med = {k: statistics.median(r[k] for r in results)
                   for k in ("rate", "p50", "p99", "server_cpu", "publish_rate", "cpu_per_million", "server_p99",
                             "client_cpu")}
            share = statistics.median(r["delivered"] / r["expected"] for r in results)
            medians[kind] = med
            print(f"{n:>7} {kind:>8} {med['publish_rate']:>12,.0f} {med['rate']:>12,.0f} {share:>10.1%} "
                  f"{med['p50'] * 1e3:>8.1f} {med['p99'] * 1e3:>8.1f} {med['server_p99'] * 1e3:>8.1f} "
                  f"{med['server_cpu']:>6.2f} {med['cpu_per_million']:>8.2f} {med['client_cpu']:>10.2f}")
        print(f"{n:>7} {'ratio':>8} {medians['gateway']['rate'] / medians['baseline']['rate']:>11.1f}x")
    kib, connected = await _idle_memory(args.idle)
    print(f"idle memory: {kib:.1f} KiB per connection (RSS growth of a fresh server process from 0 to "
          f"{connected} idle connections: aiohttp's and the gateway's state, welcome sent, no subscription)")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--rate", type=int, default=20_000, help="messages published per second")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the clients are spread over (one cannot read 2M+ messages/s)")
    parser.add_argument("--idle", type=int, default=1000, help="connections for the idle-memory measurement")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
