"""Ticks/s through simulator → broker library → IBKRFeed → price pipeline, beside the raw library.

Each run starts a fresh TWS simulator in its own process (as TWS is) holding N
EUR/USD quotes that each change bid and ask (two TICK_PRICE messages per quote),
streamed as fast as the client reads once it subscribes. Two clients are timed,
alternately, from the first tick received to the last:

* ``raw``: a plain ``IB`` of the installed library (ib_insync or ib_async) — socket read, decode, Ticker update,
  ``pendingTickersEvent`` — with a handler that only watches for the last quote;
* ``adapter``: :class:`~rxstream.ibkr.IBKRFeed` in an :class:`~rxstream.engine.Engine`
  running the real ``price_updates`` pipeline (per-symbol conflation), plus a
  subscriber on the ``ticks`` source that watches for the last quote.

Both rates count source quotes per second; ``ratio`` = adapter ÷ raw, and
``cost`` = 1 − ratio is what the adapter and pipeline take (target: ≤ 25 %).
Medians of ``--runs`` runs each.

    python benchmarks/ibkr.py [--ticks 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

LAST_BID = 2.0  # the sentinel: the final quote's bid


def make_ticks(count: int, rate: float) -> list:
    """``count`` quotes, ``1/rate`` seconds apart (``rate`` 0: all at once), each changing bid and ask."""
    from datetime import UTC, datetime, timedelta

    from rxstream.events import Tick

    t0 = datetime(2020, 1, 1, 22, tzinfo=UTC)
    step = timedelta(seconds=1 / rate) if rate else timedelta(0)
    ticks = []
    for i in range(count - 1):
        bid = round(1.1 + (i % 1000) * 1e-5, 5)
        ticks.append(Tick("EURUSD", t0 + step * i, bid, round(bid + 2e-5, 5), None, 1e6, 1e6))
    ticks.append(Tick("EURUSD", t0 + step * count, LAST_BID, LAST_BID + 2e-5, None, 1e6, 1e6))
    return ticks


async def serve(count: int, rate: float) -> None:
    """The simulator process: print the port, stream once subscribed, exit when stdin closes."""
    from rxstream.testing import TwsSimulator

    async with TwsSimulator(make_ticks(count, rate), speed=1.0 if rate else 0) as sim:
        print(sim.port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


class Simulator:
    """A simulator subprocess serving ``count`` quotes."""

    def __init__(self, count: int, rate: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(count), "--rate", str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


class Result(NamedTuple):
    wall: float
    """Quotes per second of wall time, first tick to last."""
    cpu: float
    """Quotes per second of this process's CPU time over the same span."""
    published: int
    """Ticker batches (raw) or Tick events (adapter)."""


async def run_raw(port: int, count: int) -> Result:
    from rxstream.ibkr.api import IB, Forex

    loop = asyncio.get_running_loop()
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=10)
    first: list[tuple[float, float]] = []
    done: asyncio.Future[tuple[float, float]] = loop.create_future()
    batches = 0
    contract = Forex("EURUSD")
    await ib.qualifyContractsAsync(contract)  # as the feed does (ib_async requires it)
    ticker = ib.reqMktData(contract)

    def on_tickers(tickers: object) -> None:
        nonlocal batches
        batches += 1
        if not first:
            first.append((loop.time(), time.process_time()))
        if ticker.bid == LAST_BID and not done.done():
            done.set_result((loop.time(), time.process_time()))

    ib.pendingTickersEvent += on_tickers
    end = await asyncio.wait_for(done, 600)
    ib.disconnect()
    return Result((count - 1) / (end[0] - first[0][0]), (count - 1) / (end[1] - first[0][1]), batches)


async def run_adapter(port: int, count: int) -> Result:
    from rxstream.engine import Engine
    from rxstream.ibkr import IBKRConfig, IBKRFeed
    from rxstream.pipelines import load_pipelines

    loop = asyncio.get_running_loop()
    pipelines = [p for p in load_pipelines() if p.name == "price_updates"]
    feed = IBKRFeed(IBKRConfig(port=port, symbols=["EURUSD"], heartbeat_interval=0, connect_timeout=10))
    engine = Engine(pipelines=pipelines, feeds=[feed])
    first: list[tuple[float, float]] = []
    done: asyncio.Future[tuple[float, float]] = loop.create_future()
    published = 0
    outputs = 0

    def on_tick(tick: object) -> None:
        nonlocal published
        published += 1
        if not first:
            first.append((loop.time(), time.process_time()))
        if tick.bid == LAST_BID and not done.done():  # type: ignore[attr-defined]
            done.set_result((loop.time(), time.process_time()))

    def on_output(_: object) -> None:
        nonlocal outputs
        outputs += 1

    engine.sources["ticks"].subscribe(on_tick)
    engine.outputs["price_updates"].subscribe(on_output)
    async with engine:
        end = await asyncio.wait_for(done, 600)
    assert outputs >= 1, "the price pipeline produced nothing"
    return Result((count - 1) / (end[0] - first[0][0]), (count - 1) / (end[1] - first[0][1]), published)


def measure(run: Callable[[int, int], Awaitable[Result]], count: int, rate: float) -> Result:
    sim = Simulator(count, rate)
    try:
        return asyncio.run(run(sim.port, count))
    finally:
        sim.close()


def scenario(name: str, count: int, rate: float, runs: int) -> None:
    raw: list[Result] = []
    adapter: list[Result] = []
    from rxstream.ibkr.api import LIBRARY

    print(f"{name} ({LIBRARY}): {count:,} quotes ({2 * count:,} TICK_PRICE messages)"
          + (f" at {rate:,.0f} quotes/s" if rate else " as fast as the client reads"), flush=True)
    for run in range(runs):
        raw.append(measure(run_raw, count, rate))
        adapter.append(measure(run_adapter, count, rate))
        print(f"  run {run + 1}: raw {raw[-1].wall:>9,.0f}/s wall {raw[-1].cpu:>9,.0f}/s cpu   "
              f"adapter+pipeline {adapter[-1].wall:>9,.0f}/s wall {adapter[-1].cpu:>9,.0f}/s cpu", flush=True)
    for label, pick in (("wall", lambda r: r.wall), ("cpu", lambda r: r.cpu)):
        raw_rate = statistics.median(map(pick, raw))
        adapter_rate = statistics.median(map(pick, adapter))
        ratio = adapter_rate / raw_rate
        print(f"  median by {label:<4}: raw library {raw_rate:>9,.0f} quotes/s   adapter+pipeline "
              f"{adapter_rate:>9,.0f} quotes/s   ratio {ratio:.2f}   cost {1 - ratio:+.0%}  (target <= 25%)")
    print(f"  Tick events published per run: median {statistics.median(r.published for r in adapter):,.0f} "
          f"(one per updated ticker per socket read)\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=100_000, help="quotes in the burst scenario")
    parser.add_argument("--paced", type=int, default=20_000, help="quotes in the paced scenario (0: skip)")
    parser.add_argument("--rate", type=float, default=5_000, help="quotes/s in the paced scenario")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.rate))
        return
    logging.basicConfig(level=logging.ERROR)
    scenario("burst", args.ticks, 0.0, args.runs)
    if args.paced:
        scenario("paced (about one quote per socket read: the adapter's worst case)", args.paced, args.rate, args.runs)


if __name__ == "__main__":
    main()
