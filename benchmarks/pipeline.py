"""How fast ``price_updates`` runs in virtual time, beside a plain Python loop doing the same work.

Builds a tick file of at least 1M ticks from the real EUR/USD session (time-shifted
copies, one per symbol, interleaved), then measures, each as the median of several
runs and each beside its baseline measured in the same run:

* ``end-to-end``: from the file: parse every line into a Tick, replay in virtual time,
  conflate per symbol (3 s), count the output;
* ``engine-only``: the same with the events already in memory;
* ``parsing``: ``read_events`` over the file beside a bare loop calling ``orjson.loads``
  on each of its lines (the same uncompressed file), events or lines per second.

The baseline is a fused plain loop with the same parsing (``read_events``), the same
filtering and the same per-symbol conflation, its windows closed lazily; its output
count must equal the engine's. ``ratio`` = engine throughput ÷ plain-loop throughput.
Peak memory (tracemalloc) of the end-to-end run is printed for two file sizes to show
it does not grow with the file.

    python benchmarks/pipeline.py [--ticks 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import orjson

from rxstream import Engine, ReplayScheduler, bundled_session, load_pipelines, read_events, replay_virtual
from rxstream.events import Event, Tick
from rxstream.tickfile import TickFileWriter

INTERVAL = 3.0


def build_file(path: Path, at_least: int) -> int:
    """Time-shifted copies of the real session over several symbols, merged in time order."""
    session = [e for e in read_events(bundled_session()) if isinstance(e, Tick)]
    length = session[-1].time - session[0].time + timedelta(seconds=1)
    symbols = [f"SYM{i:02d}" for i in range(20)]
    copies = -(-at_least // (len(session) * len(symbols)))

    def one_symbol(index: int, symbol: str) -> Iterator[Tick]:
        nudge = timedelta(milliseconds=137 * index)  # symbols interleave instead of moving in lockstep
        scale = 1 + index / 100
        for copy in range(copies):
            shift = length * copy + nudge
            for t in session:
                yield Tick(symbol, t.time + shift, round(t.bid * scale, 6), round(t.ask * scale, 6))

    merged = heapq.merge(*(one_symbol(i, s) for i, s in enumerate(symbols)), key=lambda t: t.time)
    with TickFileWriter(path, source="benchmark: time-shifted real EUR/USD session") as writer:
        for tick in merged:
            writer.write(tick)
        return writer.count


# --- the two contenders -----------------------------------------------------------------


def plain_loop(events: Iterable[Event]) -> int:
    """Filter ticks and conflate per symbol with the engine's semantics, as one fused loop."""
    step = timedelta(seconds=INTERVAL)
    window_end: dict[str, object] = {}
    pending: dict[str, Tick | None] = {}
    out = 0
    for event in events:
        if event.kind != "tick":
            continue
        symbol = event.symbol
        end = window_end.get(symbol)
        if end is not None and event.time >= end:  # close the windows that ended before this tick
            while end is not None and event.time >= end:
                if pending[symbol] is not None:
                    out += 1
                    pending[symbol] = None
                    end = end + step  # type: ignore[operator]
                else:
                    end = None
            if end is None:
                del window_end[symbol]
            else:
                window_end[symbol] = end
        if symbol in window_end:
            pending[symbol] = event
        else:
            out += 1
            window_end[symbol] = event.time + step
            pending[symbol] = None
    return out + sum(1 for value in pending.values() if value is not None)


def engine_run(events: Iterable[Event], first: Tick) -> int:
    """The shipped price_updates pipeline in an Engine, replayed in virtual time."""
    pipelines = [p for p in load_pipelines() if p.name == "price_updates"]
    engine = Engine(
        pipelines=pipelines,
        scheduler=ReplayScheduler(first.time),
        settings={"price_update_interval": INTERVAL},
        publish=False,
    )
    engine.start()
    count = 0

    def counted(_: object) -> None:
        nonlocal count
        count += 1

    engine.outputs["price_updates"].subscribe(counted)
    replay_virtual(events, engine)
    engine.stop()
    return count


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def compare(label: str, engine_fn: Callable[[], int], plain_fn: Callable[[], int], ticks: int, runs: int) -> None:
    engine_times, plain_times = [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        t_engine, n_engine = timed(engine_fn)
        t_plain, n_plain = timed(plain_fn)
        if n_engine != n_plain:
            raise SystemExit(f"{label}: engine emitted {n_engine} updates, plain loop {n_plain}")
        engine_times.append(t_engine)
        plain_times.append(t_plain)
    engine_rate = ticks / statistics.median(engine_times)
    plain_rate = ticks / statistics.median(plain_times)
    print(
        f"{label:<12} engine {engine_rate / 1e6:6.3f} M ticks/s   plain loop {plain_rate / 1e6:6.3f} M ticks/s   "
        f"({n_engine} updates)   ratio {engine_rate / plain_rate:.2f}"
    )


def compare_in_memory(path: Path, first: Tick, ticks: int, runs: int) -> None:
    """The engine-only figure: the same work on events already parsed into memory."""
    events = list(read_events(path))
    compare("engine-only", lambda: engine_run(events, first), lambda: plain_loop(events), ticks, runs)


def compare_parsing(path: Path, ticks: int, runs: int) -> None:
    """``read_events`` beside the floor for any JSON Lines reader: ``orjson.loads`` of each line."""

    def reader() -> int:
        return sum(1 for _ in read_events(path))

    def bare_loads() -> int:
        loads = orjson.loads
        count = -1  # the header line
        with open(path, "rb") as handle:
            for line in handle:
                loads(line)
                count += 1
        return count

    reader_times, bare_times = [], []
    for _ in range(runs):
        t_reader, n_reader = timed(reader)
        t_bare, n_bare = timed(bare_loads)
        if n_reader != n_bare:
            raise SystemExit(f"parsing: read_events yielded {n_reader} events for {n_bare} lines")
        reader_times.append(t_reader)
        bare_times.append(t_bare)
    reader_rate = ticks / statistics.median(reader_times)
    bare_rate = ticks / statistics.median(bare_times)
    print(
        f"{'parsing':<12} read_events {reader_rate / 1e6:6.3f} M events/s   "
        f"orjson.loads {bare_rate / 1e6:6.3f} M lines/s   ratio {reader_rate / bare_rate:.2f}"
    )


def peak_memory(path: Path, first: Tick) -> int:
    tracemalloc.start()
    engine_run(read_events(path), first)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ticks.jsonl"
        small = Path(tmp) / "small.jsonl"
        ticks = build_file(path, args.ticks)
        small_ticks = build_file(small, args.ticks // 4)
        size_mb = path.stat().st_size / 1e6
        print(f"file: {ticks} ticks, 20 symbols, {size_mb:.0f} MB; medians of {args.runs} runs")
        first = next(read_events(path))
        assert isinstance(first, Tick)
        compare(
            "end-to-end",
            lambda: engine_run(read_events(path), first),
            lambda: plain_loop(read_events(path)),
            ticks,
            args.runs,
        )
        compare_in_memory(path, first, ticks, args.runs)
        compare_parsing(path, ticks, args.runs)
        big_peak = peak_memory(path, first)
        small_peak = peak_memory(small, first)
        print(
            f"peak memory end-to-end: {big_peak / 1e6:.2f} MB for {ticks} ticks, "
            f"{small_peak / 1e6:.2f} MB for {small_ticks} ticks (traced Python allocations)"
        )


if __name__ == "__main__":
    main()
