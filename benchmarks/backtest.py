"""What paper trading adds to a replay: ``rxstream backtest`` beside replaying the same signals alone.

Builds a tick file from time-shifted copies of the real EUR/USD session (one
symbol, so the SMA crossover trades it as it would live), then measures, each as
the median of several runs in this process:

* ``baseline``: replay the file in virtual time through the ``signals`` pipeline
  and its evaluator (``ma_crossover``), counting the signals: what
  ``rxstream replay FILE --pipeline signals`` does;
* ``backtest``: :func:`rxstream.backtest.run_backtest` on the same file: the same
  replay plus the paper broker, the equity and drawdown tracking and the
  one-minute bars, every tick.

``ratio`` = backtest throughput ÷ baseline throughput (1.0 = free).

    python benchmarks/backtest.py [--ticks 500000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from rxstream import Engine, ReplayScheduler, bundled_session, load_pipelines, read_events, replay_virtual
from rxstream.backtest import run_backtest
from rxstream.events import Tick
from rxstream.tickfile import write_events


def build_file(path: Path, at_least: int) -> int:
    """Copies of the real session one after another, each shifted by the session's length."""
    session = [e for e in read_events(bundled_session()) if isinstance(e, Tick)]
    length = session[-1].time - session[0].time + timedelta(seconds=1)
    copies = -(-at_least // len(session))

    def ticks() -> Iterator[Tick]:
        for copy in range(copies):
            for t in session:
                yield t._replace(time=t.time + length * copy)

    return write_events(path, ticks(), source="benchmark: time-shifted real EUR/USD session")


def replay_signals(path: Path) -> int:
    """The baseline: the signals pipeline (and the evaluator feeding it) over the file, in virtual time."""
    pipelines = [p for p in load_pipelines(None) if p.name in ("signals", "ma_crossover")]
    engine = Engine(pipelines=pipelines, scheduler=ReplayScheduler(), publish=False)
    engine.start()
    signals: list[object] = []
    engine.outputs["signals"].subscribe(signals.append)
    replay_virtual(read_events(path), engine)
    engine.stop()
    return len(signals)


def backtest(path: Path) -> int:
    """The backtest of the same signals; returns how many it traded."""
    return run_backtest(path).signals


def median_seconds(run: Callable[[Path], int], path: Path, runs: int) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(runs):
        gc.collect()
        began = time.perf_counter()
        result = run(path)
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.jsonl"
        count = build_file(path, args.ticks)
        base, base_signals = median_seconds(replay_signals, path, args.runs)
        full, traded = median_seconds(backtest, path, args.runs)
    assert traded == base_signals, (traded, base_signals)  # the same signals, traded
    print(f"{count:,} ticks, {traded:,} signals; medians of {args.runs} runs")
    print(f"baseline  replay --pipeline signals  {base:6.2f} s  {count / base / 1e3:7.1f} k ticks/s")
    print(f"backtest  run_backtest               {full:6.2f} s  {count / full / 1e3:7.1f} k ticks/s")
    print(f"ratio     {base / full:.2f} (backtest throughput / baseline throughput)")


if __name__ == "__main__":
    main()
