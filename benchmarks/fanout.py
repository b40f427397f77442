"""WebSocket fan-out: delivered messages/s and latency with N clients, against a naive baseline.

The server (this process) runs the real gateway app over an InMemoryBus; the clients run in
separate processes (``--client-processes``, 2 by default), one connection each. For each N, two
servers are measured in the same run:

* ``gateway``  -- rxstream's broadcaster: a shared log per topic, the same frame bytes for every
  client at the same place, one write per client per loop turn;
* ``baseline`` -- the naive loop: one ``send_str`` per client per message (serialized once).

A publisher pushes ``RATE`` messages/s in 10 ms bursts for ``SECONDS``; each message carries
its publish time, and clients report delivered count and p50/p99 latency (publish to
receipt). Each row prints the publish rate achieved (the publisher shares the server's loop, so a
slow server publishes less: throughput versus backpressure) and the server's CPU seconds per
million deliveries; ``srv p99`` is the gateway's own p99 from a message reaching it to its socket
write (its metrics histogram: the upper bound of the bucket it falls in; bounds every 5-25 ms
up to 100 ms), and ``client cpu`` the CPU seconds of the client processes together over the run
plus 2 s each: near that wall time, the clients are the bottleneck and the publish-to-client
latency is their own queue.

The clients share this machine's cores with the server, so they are kept light, the same way for
both servers: each is a bare RFC 6455 client on an asyncio transport (the same upgrade request
aiohttp's client sends, pings answered) that counts the data messages of every frame without
parsing it; ``SAMPLED`` (10) clients, spread evenly over the connection order, parse every frame
and record every data message's latency (before: aiohttp clients, every 10th parsing, which
cost the machine about as much CPU as the server under test).

The capacity line (``--capacity N``, 500 by default) answers "how much can this machine take":
for each server, the highest publish rate of a fixed ladder at which N clients see p99 <= 50 ms
with every message published and delivered, found by bisecting the ladder with one short run
per rung (so a single noisy run can move it by a rung). Idle memory per connection: RSS growth
of a fresh server process (not this one) for N idle connections.

    .venv/bin/python benchmarks/fanout.py                # 100 and 500 clients, capacity at 500
    .venv/bin/python benchmarks/fanout.py --clients 50 --seconds 2 --repeat 1 --capacity 0   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

__all__ = ["main", "publish_paced"]

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rxstream.bus import InMemoryBus, TopicSpec
from rxstream.gateway.app import METRICS, StaticBackend, create_app
from rxstream.settings import Settings

SAMPLED = 10
"""Clients that parse every frame and record each data message's latency, spread evenly over the server's
connection order; the others count data messages without parsing."""

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

_DATA = b'"type":"data"'


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client-to-server frame (RFC 6455, 5.3), for the short frames a client sends."""
    mask = os.urandom(4)
    n = len(payload)
    header = bytes((0x80 | opcode, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _Client(asyncio.Protocol):
    """One WebSocket client on a bare asyncio transport: the HTTP upgrade, then frames read as they come.

    Every data message of every text frame is counted (``"type":"data"`` occurrences); a sampled
    client also parses each frame and records publish-to-receipt latency per data message. Pings
    are answered. Neither server can tell it from any other RFC 6455 client; it spends a fraction
    of the CPU of a full client library, which leaves the machine's cores to the server measured.
    """

    def __init__(self, host: str, path: str, sample: bool, latencies: list[float], upgraded: Any) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
                        "User-Agent: Python/3.11 aiohttp/3.14.5\r\n\r\n").encode()  # what aiohttp's client sends
        self.sample = sample
        self.latencies = latencies
        self.upgraded = upgraded
        self.buffer = bytearray()
        self.open = False
        self.count = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))

    def send_text(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_client_frame(0x1, text))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(bytes(buf[:end]).decode(errors="replace")))
                return
            del buf[:end + 4]
            self.open = True
            self.upgraded.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            n = buf[pos + 1] & 0x7F
            if n < 126:
                start = pos + 2
            elif n == 126:
                start = pos + 4
                n = int.from_bytes(buf[pos + 2:start], "big")
            else:
                start = pos + 10
                n = int.from_bytes(buf[pos + 2:start], "big")
            end = start + n
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            if opcode == 0x1:
                if self.sample:
                    self._sample(bytes(buf[start:end]))
                else:  # count without parsing: the client process must not be the bottleneck
                    self.count += buf.count(_DATA, start, end)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(_client_frame(0xA, bytes(buf[start:end])))
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()
            pos = end
        if pos:
            del buf[:pos]

    def _sample(self, payload: bytes) -> None:
        frame = orjson.loads(payload)
        now = time.time()
        for m in frame if isinstance(frame, list) else (frame,):
            if m.get("type") == "data":
                self.count += 1
                self.latencies.append(now - m["data"]["t"])


async def _clients(url: str, n: int, first: int, every: int, seconds: float, subscribe: bool, ready: Any,
                   out: Any) -> None:
    """``n`` clients numbered from ``first``; those whose number is a multiple of ``every`` are sampled."""
    loop = asyncio.get_running_loop()
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    latencies: list[float] = []
    clients: list[_Client] = []
    for i in range(n):
        client = _Client(f"{host}:{port}", address.path, (first + i) % every == 0, latencies, loop.create_future())
        await loop.create_connection(lambda c=client: c, host, port)  # type: ignore[misc]
        await client.upgraded
        if subscribe:
            client.send_text(b'{"type":"subscribe","topics":["ticks"]}')
        clients.append(client)
    ready.set()
    cpu0 = time.process_time()
    await asyncio.sleep(seconds + 2.0)
    cpu = time.process_time() - cpu0
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    latencies.sort()
    step = max(1, len(latencies) // 20_000)  # an even sample of the sorted latencies keeps the quantiles
    out.put({"delivered": sum(c.count for c in clients), "latencies": latencies[::step], "client_cpu": cpu})


def _client_process(url: str, n: int, first: int, every: int, seconds: float, subscribe: bool, ready: Any,
                    out: Any) -> None:
    asyncio.run(_clients(url, n, first, every, seconds, subscribe, ready, out))


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


async def publish_paced(publish: Callable[[str, Any], object], rate: int, seconds: float) -> tuple[int, float]:
    """Publish ``rate`` ticks/s on ``ticks`` for ``seconds``, in bursts every 10 ms (longer under 100 msg/s),
    each carrying its publish time ``t``; returns how many were published and the CPU seconds it took."""
    burst = max(1, rate // 100)
    period = burst / rate
    published = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    next_at = start
    while time.perf_counter() - start < seconds:
        now = time.time()
        for _ in range(burst):
            publish("ticks", {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "t": now})
        published += burst
        next_at += period
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return published, time.process_time() - cpu0


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
    first, every = 0, max(1, n // SAMPLED)
    for share in _shares(n, client_processes):
        ready = ctx.Event()
        process = ctx.Process(target=_client_process, args=(f"http://127.0.0.1:{port}/ws", share, first, every,
                                                             seconds, kind == "gateway", ready, out))
        first += share
        process.start()
        processes.append(process)
        readies.append(ready)
    while not all(r.is_set() for r in readies):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    published, cpu = await publish_paced(bus.publish, rate, seconds)
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


LADDER = (10, 20, 30, 50, 100, 200, 350, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10_000, 12_000,
          14_000, 17_000, 20_000)
"""The publish rates (messages/s) the capacity line chooses from."""
GOAL_P99 = 0.050
CAPACITY_SECONDS = 2.0


def _passes(result: dict[str, Any], rate: int) -> bool:
    """p99 within the goal, with (nearly) every message published and every one delivered."""
    return (result["p99"] <= GOAL_P99 and result["publish_rate"] >= 0.95 * rate
            and result["delivered"] >= 0.999 * result["expected"])


async def _capacity(kind: str, n: int, client_processes: int) -> int:
    """The highest rate of :data:`LADDER` that passes for ``kind`` with ``n`` clients (0: not even the lowest),
    by bisection: the ladder is assumed to pass up to some rung and fail above it."""
    lo, hi = -1, len(LADDER)  # LADDER[lo] passes (or lo = -1), LADDER[hi] fails (or hi = len)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        result = await _measure(kind, n, LADDER[mid], CAPACITY_SECONDS, client_processes)
        if _passes(result, LADDER[mid]):
            lo = mid
        else:
            hi = mid
    return LADDER[lo] if lo >= 0 else 0


def _rate(rate: int) -> str:
    return f"{rate:,} msg/s" if rate else f"under {LADDER[0]} msg/s"


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
    clients = ctx.Process(target=_client_process, args=(f"http://127.0.0.1:{port}/ws", n, 0, n, 3.0, False, ready,
                                                                 out))
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
    if args.capacity:
        found = {kind: await _capacity(kind, args.capacity, args.client_processes) for kind in ("gateway", "baseline")}
        g, b = found["gateway"], found["baseline"]
        print(f"capacity at {args.capacity} clients (highest rate of {LADDER[0]}..{LADDER[-1]} msg/s with p99 <= "
              f"{GOAL_P99 * 1e3:.0f} ms, all published and delivered; one {CAPACITY_SECONDS:g} s run per rung tried): "
              f"gateway {_rate(g)}, baseline {_rate(b)}"
              + (f"; ratio {g / b:.0f}x" if g and b else ""))
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
    parser.add_argument("--capacity", type=int, default=500,
                        help="clients for the capacity line (the highest rate with p99 <= 50 ms); 0 to skip it")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
