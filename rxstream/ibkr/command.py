"""``rxstream record``: record ticks, positions and fills from TWS / IB Gateway to a tick file.

::

    rxstream record --ibkr 127.0.0.1:7497 --symbols EURUSD,AAPL -o session.jsonl.gz

The file is what ``rxstream replay`` reads. Recording runs until Ctrl-C (or
``--seconds`` / ``--count``); while TWS cannot be reached the feed keeps
retrying with backoff and says so, naming host and port.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RxstreamError
from ..events import Event
from ..shutdown import quiet_cancelled_connect, stop_on_signals
from .config import IBKRConfig, parse_address

__all__ = ["record", "register"]


def register(subparsers: Any) -> None:
    """Add ``record`` to the ``rxstream`` parser."""
    rec = subparsers.add_parser(
        "record",
        help="record ticks, positions and fills from TWS / IB Gateway to a tick file",
        description="Connect to TWS or IB Gateway (or `rxstream sim`), subscribe to market data for the "
        "symbols, and write every tick, position update and fill to a tick file that replay reads.",
    )
    rec.add_argument("--ibkr", required=True, metavar="HOST:PORT", help="TWS / IB Gateway API address")
    rec.add_argument("--symbols", required=True, help="comma-separated symbols, e.g. EURUSD,AAPL")
    rec.add_argument("-o", "--out", type=Path, required=True, help="tick file to write (.gz compresses)")
    rec.add_argument("--client-id", type=int, default=1, help="the API client id this program connects to TWS "
                     "with; each program connected at once needs its own (default 1; if TWS says it is in use, "
                     "error 326, the next ids are tried)")
    rec.add_argument("--account", default="", help="account for account updates (default: the only one)")
    rec.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    rec.add_argument("--count", type=int, default=None, help="stop after this many events")
    rec.set_defaults(func=_run)


async def record(
    config: IBKRConfig,
    path: Path,
    *,
    stop: asyncio.Event,
    count: int | None = None,
    on_event: Callable[[Event], Any] | None = None,
) -> int:
    """Record from the feed until ``stop`` is set (or ``count`` events); returns how many were written."""
    from ..engine import Engine
    from ..tickfile import TickFileWriter
    from .source import IBKRFeed

    feed = IBKRFeed(config)
    engine = Engine(pipelines=[], feeds=[feed])
    with TickFileWriter(path, source=f"ibkr {config.address}", flush_every=1.0) as writer:  # survives SIGKILL

        def write(event: Event) -> None:
            if count is not None and writer.count >= count:
                return
            writer.write(event)
            if on_event is not None:
                on_event(event)
            if count is not None and writer.count >= count:
                stop.set()

        for name in ("ticks", "positions", "fills"):
            engine.sources[name].subscribe(write)
        async with engine:
            await stop.wait()
        return writer.count


def _run(args: argparse.Namespace) -> int:
    try:
        host, port = parse_address(args.ibkr, setting="--ibkr")
        config = IBKRConfig(
            host=host, port=port, client_id=args.client_id, account=args.account, symbols=args.symbols.split(",")
        )
    except RxstreamError as error:
        print(f"rxstream record: {error}", file=sys.stderr)
        return 2

    async def main() -> int:
        stop = stop_on_signals()
        if args.seconds is not None:
            asyncio.get_running_loop().call_later(args.seconds, stop.set)
        print(f"recording {', '.join(config.symbols)} from {config.address} to {args.out}", file=sys.stderr)
        return await record(config, args.out, stop=stop, count=args.count)

    try:
        with quiet_cancelled_connect():  # a connect cut short by the stop signal is the stop, not an error
            written = asyncio.run(main())
    except (RxstreamError, OSError) as error:
        print(f"rxstream record: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written} events to {args.out}", file=sys.stderr)
    return 0
