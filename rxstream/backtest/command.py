"""``rxstream backtest``: paper-trade a tick file's signals in virtual time and write a report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import RxstreamError
from ..events import Event
from ..pipelines import parse_settings
from ..tickfile import ReadStats
from .broker import Commission
from .report import summary, write_report
from .simulation import run_backtest

__all__ = ["progress_after", "register"]


def register(subparsers: Any) -> None:
    """Add ``backtest`` to the ``rxstream`` parser."""
    backtest = subparsers.add_parser(
        "backtest",
        help="paper-trade a tick file's signals in virtual time; write fills, summary.json and report.html",
        description="Replay a tick file in virtual time through the pipelines, turn each BUY/SELL signal into a "
        "market order with the live demo's rule (hold +quantity after a BUY, -quantity after a SELL), fill it "
        "at the replayed quote (ask for buys, bid for sells), close what is open at the end, and write "
        "fills.jsonl, summary.json and report.html. Two runs write identical files.",
    )
    backtest.add_argument("file", type=Path, help="tick file (.jsonl or .jsonl.gz)")
    backtest.add_argument("--pipelines", default="signals", metavar="NAME,...",
                          help="the pipelines whose signals are traded (default: signals)")
    backtest.add_argument("--quantity", type=float, default=20_000, help="position per signal (default 20000)")
    backtest.add_argument("--commission", type=Commission.parse, default=Commission(), metavar="COST",
                          help="per fill: N (fixed), Nbp (of the traded value) or Nbp+N (default 0)")
    backtest.add_argument("--min-confidence", type=float, default=0.0, help="ignore weaker signals")
    backtest.add_argument("--keep-open", action="store_true",
                          help="leave positions open at the end (their P&L stays unrealised)")
    backtest.add_argument("--out", type=Path, default=Path("backtest"), help="output folder (default ./backtest)")
    backtest.add_argument("--pipelines-dir", type=Path, default=None, help="pipelines folder (default ./pipelines)")
    backtest.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a pipeline setting")
    backtest.add_argument("--skip-bad", action="store_true", help="skip bad lines, report how many")
    backtest.set_defaults(func=_backtest)


def progress_after(
    events: Iterator[Event], stats: ReadStats, console: Console, *, delay: float = 1.0, description: str = "backtest"
) -> Iterator[Event]:
    """Yield ``events``; once they have taken ``delay`` seconds, show a progress bar on the console.

    Nothing is shown when the console is not a terminal, or for a file read in less than ``delay``.
    """
    if not console.is_terminal:
        yield from events
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    began = time.monotonic()
    count = 0
    for count, event in enumerate(events, 1):
        yield event
        if count % 4096 == 0 and time.monotonic() - began >= delay:
            break
    else:
        return
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=stats.size or None, completed=stats.bytes_read)
        for shown, event in enumerate(events, count + 1):
            if shown % 20_000 == 0:
                bar.update(task, total=stats.size or None, completed=stats.bytes_read)
            yield event


def _backtest(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    try:
        result = run_backtest(
            args.file, pipelines=names, quantity=args.quantity, commission=args.commission,
            min_confidence=args.min_confidence, settings=parse_settings(args.set),
            pipelines_dir=args.pipelines_dir, flatten=not args.keep_open, skip_bad=args.skip_bad,
            progress=lambda events, stats: progress_after(events, stats, console, description=args.file.name),
        )
        paths = write_report(result, args.out)
    except RxstreamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    numbers = summary(result)
    rate = "—" if numbers["win_rate"] is None else f"{numbers['win_rate']:.0%}"
    currency = f" {numbers['currency']}" if numbers["currency"] else ""
    print(f"fills {numbers['fills']}, trades {numbers['trades']}, win rate {rate}, P&L {numbers['pnl']:g}{currency}, "
          f"max drawdown {numbers['max_drawdown']:g}", file=sys.stderr)
    if result.skipped:
        print(f"{result.skipped} bad lines skipped", file=sys.stderr)
    for path in paths.values():
        print(path, file=sys.stderr)
    return 0
