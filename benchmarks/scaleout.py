"""Scale-out: gateways fed by Redis beside the in-memory server, same publisher, same clients, same run.

Three setups are measured in each run, ``RATE`` messages/s published for ``SECONDS``:

* ``memory``   -- today's one-process server: the publisher and the gateway share an InMemoryBus;
* ``redis x1`` -- the publisher writes to Redis (``RedisPublisher``, as ``rxstream ingest`` does) and one
  gateway process (``GatewayBackend``, as ``rxstream gateway``) serves the clients;
* ``redis x2`` -- the same with two gateway processes, each with its own clients.

Clients run in separate processes (the light client of ``benchmarks/fanout.py``: one connection
each, ``SAMPLED`` of them spread over the connection order parse frames and measure publish-to-
receipt latency from the publish time the message carries, the others count data messages). Printed
per setup: delivered messages/s, share of expected, p50/p99 latency (for x2, the worse gateway's),
and the ratios the scale-out aims at: Redis x1 delivered / memory delivered (aim >= 0.8) and Redis
x1 p50 - memory p50 (aim <= 5 ms); then the Redis hop alone, measured in one process with no clients
(what the hop costs when no other process competes for the CPU). Needs ``redis-server`` on the PATH.

    .venv/bin/python benchmarks/scaleout.py                     # 2,000 msg/s, 100 clients per gateway, 3 runs
    .venv/bin/python benchmarks/scaleout.py --rate 20000        # past what one gateway delivers on 2 cores
    .venv/bin/python benchmarks/scaleout.py --seconds 2 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson
from aiohttp import web

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from fanout import SAMPLED, _client_process, publish_paced  # the fan-out benchmark's clients and publisher

from rxstream.backend import StaticBackend
from rxstream.bus import InMemoryBus, TopicSpec
from rxstream.gateway.app import create_app
from rxstream.redisbus import BusAddress, RedisPublisher, RedisReader, connect
from rxstream.settings import Settings

__all__ = ["main"]

HISTORY = 100_000  # messages kept per topic: a gateway that falls behind catches up instead of skipping


def _settings(n: int, bus: str | None = None) -> Settings:
    return Settings(max_connections=n + 10, queue_limit=100_000, inbound_rate=1000, inbound_burst=1000, bus=bus,
                    history_size=HISTORY, log_level="WARNING")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a gateway process ------------------------------------------------------------------------


async def _serve_gateway(bus: str, n: int, port: int, stop: Any) -> None:
    from rxstream.scaleout import GatewayBackend

    settings = _settings(n, bus)
    runner = web.AppRunner(create_app(settings, backend=GatewayBackend(settings)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()


def _gateway_process(bus: str, n: int, port: int, stop: Any) -> None:
    asyncio.run(_serve_gateway(bus, n, port, stop))


async def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# --- one measurement ----------------------------------------------------------------------------


async def _measure(kind: str, n: int, rate: int, seconds: float, redis_url: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    gateways: list[Any] = []
    ports: list[int] = []
    runner: web.AppRunner | None = None
    publisher: RedisPublisher | None = None
    stop = ctx.Event()
    if kind == "memory":
        bus = InMemoryBus()
        bus.declare(TopicSpec("ticks", "lossless", history=1000))
        runner = web.AppRunner(create_app(_settings(n), backend=StaticBackend(bus)), access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ports.append(port)
        publish = bus.publish
    else:
        publisher = RedisPublisher(connect(BusAddress(redis_url)), history_size=HISTORY)
        await publisher.open()
        publisher.declare(TopicSpec("ticks", "lossless", history=1000))
        publisher.publish("ticks", {"warm": True})
        while publisher.queued:
            await asyncio.sleep(0.01)
        for _ in range(1 if kind == "redis x1" else 2):
            port = _free_port()
            process = ctx.Process(target=_gateway_process, args=(redis_url, n, port, stop))
            process.start()
            gateways.append(process)
            ports.append(port)
        for port in ports:
            await _wait_listening(port)
        publish = publisher.publish
    clients = []
    for port in ports:
        ready, out = ctx.Event(), ctx.Queue()
        url = f"http://127.0.0.1:{port}/ws"
        process = ctx.Process(target=_client_process, args=(url, n, 0, max(1, n // SAMPLED), seconds, True, ready, out))
        process.start()
        clients.append((process, ready, out))
    for _, ready, _ in clients:
        while not ready.is_set():
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    published, cpu = await publish_paced(publish, rate, seconds)
    loop = asyncio.get_running_loop()
    results = [await loop.run_in_executor(None, out.get, True, seconds + 60) for _, _, out in clients]
    for process, _, _ in clients:
        process.join()
    stop.set()
    for process in gateways:
        process.join(10)
    if runner is not None:
        await runner.cleanup()
    if publisher is not None:
        await publisher.close()
    delivered = sum(r["delivered"] for r in results)
    return {
        "kind": kind, "rate": delivered / seconds, "share": delivered / (published * n * len(ports)),
        "p50": max(_quantile(r["latencies"], 0.5) for r in results),
        "p99": max(_quantile(r["latencies"], 0.99) for r in results), "publisher_cpu": cpu,
    }


def _quantile(latencies: list[float], q: float) -> float:
    """The ``q`` quantile of a client process's latencies (reported sorted), or NaN if it sampled none."""
    return latencies[int(len(latencies) * q)] if latencies else float("nan")


async def _hop(rate: int, seconds: float, redis_url: str) -> tuple[float, float]:
    """The Redis hop alone, in this process: publish -> XADD -> XREAD -> a reader's listener (p50, p99)."""
    publisher = RedisPublisher(connect(BusAddress(redis_url)))
    await publisher.open()
    publisher.declare(TopicSpec("hop", "lossless", history=1000))
    reader = RedisReader(connect(BusAddress(redis_url)))
    await reader.open()
    latencies: list[float] = []
    reader.subscribe(lambda m: latencies.append(time.time() - orjson.loads(m.payload)["data"]["t"]))
    publisher.publish("hop", {"t": time.time()})
    while not latencies:
        await asyncio.sleep(0.01)
    latencies.clear()
    await publish_paced(lambda topic, value: publisher.publish("hop", value), rate, seconds)
    await asyncio.sleep(0.5)
    await reader.close()
    await publisher.close()
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


def _start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("benchmarks/scaleout.py needs redis-server (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("redis-server did not start")


async def _main(args: argparse.Namespace) -> None:
    kinds = ("memory", "redis x1", "redis x2")
    print(f"scale-out: {args.rate} msg/s published for {args.seconds} s, {args.clients} clients per gateway, "
          f"medians of {args.repeat} runs")
    print(f"{'setup':>9} {'clients':>7} {'delivered/s':>12} {'of expected':>11} {'p50 ms':>8} {'p99 ms':>8}")
    with tempfile.TemporaryDirectory() as directory:
        redis, url = _start_redis(directory)
        try:
            rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
            hops: list[tuple[float, float]] = []
            for _ in range(args.repeat):
                for kind in kinds:
                    rows[kind].append(await _measure(kind, args.clients, args.rate, args.seconds, url))
                hops.append(await _hop(args.rate, args.seconds, url))
        finally:
            redis.terminate()
            redis.wait(10)
    medians = {kind: {k: statistics.median(r[k] for r in results) for k in ("rate", "share", "p50", "p99")}
               for kind, results in rows.items()}
    for kind in kinds:
        med = medians[kind]
        clients = args.clients * (2 if kind == "redis x2" else 1)
        print(f"{kind:>9} {clients:>7} {med['rate']:>12,.0f} {med['share']:>10.1%} {med['p50'] * 1e3:>8.1f} "
              f"{med['p99'] * 1e3:>8.1f}")
    ratio = medians["redis x1"]["rate"] / medians["memory"]["rate"]
    extra = (medians["redis x1"]["p50"] - medians["memory"]["p50"]) * 1e3
    print(f"redis x1 / memory delivered: {ratio:.2f}x (aim >= 0.8); redis hop p50: {extra:+.1f} ms (aim <= +5 ms)")
    print(f"redis x2 / redis x1 delivered: {medians['redis x2']['rate'] / medians['redis x1']['rate']:.2f}x")
    hop50, hop99 = (statistics.median(h[i] for h in hops) * 1e3 for i in (0, 1))
    print(f"the Redis hop alone (publish -> XADD -> XREAD -> listener, one process, no clients): "
          f"p50 {hop50:.1f} ms, p99 {hop99:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100, help="clients per gateway")
    parser.add_argument("--rate", type=int, default=2_000,
                        help="messages published per second (100 clients: 200,000 deliveries/s per gateway)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
