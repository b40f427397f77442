"""``rxstream sim``: run the TWS API simulator on a port, streaming a tick file.

With no options it listens on 127.0.0.1:7497 (paper TWS's port), serves the
bundled EUR/USD session at real speed in a loop, holds the default positions
and fills market orders at the current quote::

    rxstream sim --port 7497 --speed 60

Any unmodified ib_insync (or ib_async) script can then connect to it.

``--fault WHEN:WHAT`` (repeatable) schedules faults, counted from the start:
``--fault 30s:drop --fault 45s:error=1101`` drops every connection after 30 s
and sends error 1101 after 45 s; see :mod:`rxstream.testing.faults` for the
syntax (drop, refuse=S, reject=N, error=CODE, stall=S, and ``@EVERY`` repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RxstreamError
from ..shutdown import stop_on_signals
from ..tickfile import symbols_in
from .faults import Fault, parse_fault, run_faults
from .server import DEFAULT_ACCOUNT, TwsSimulator

__all__ = ["register", "run_simulator"]


def register(subparsers: Any) -> None:
    """Add ``sim`` to the ``rxstream`` parser."""
    sim = subparsers.add_parser(
        "sim",
        help="run a TWS API simulator that ib_insync connects to",
        description="Serve the TWS socket protocol on loopback: market data from a tick file, the "
        "default positions, market orders filled at the current quote with commission reports.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=7497, help="port (default 7497; 0 picks a free one)")
    sim.add_argument("--file", type=Path, default=None, help="tick file to stream (default: the bundled session)")
    sim.add_argument("--speed", type=float, default=1.0, help="replay speed factor; 0 = as fast as clients read")
    sim.add_argument("--no-loop", action="store_true", help="stop streaming at the end of the file")
    sim.add_argument("--account", default=DEFAULT_ACCOUNT, help=f"the managed account (default {DEFAULT_ACCOUNT})")
    sim.add_argument(
        "--fault", action="append", default=[], metavar="WHEN:WHAT",
        help="schedule a fault, seconds after start (repeatable): 30s:drop, 45s:error=1101, 1m:refuse=10, "
        "20s:reject=2, 90s:stall=15; add @EVERY to repeat (30s:drop@60s). Errors: 1100 lost, 1101/1102 "
        "restored, 2103/2104 market data farm down/up",
    )
    sim.set_defaults(func=_run)


async def run_simulator(
    path: Path, *, host: str, port: int, speed: float, loop: bool, account: str, stop: asyncio.Event,
    faults: list[Fault] | None = None,
) -> None:
    """Serve ``path`` until ``stop`` is set, inflicting ``faults`` on schedule; prints the address once
    listening, then one line per fault."""
    from ..tickfile import read_events

    symbols = symbols_in(path)
    sim = TwsSimulator(
        lambda: read_events(path), host=host, port=port, speed=speed, loop=loop, account=account, symbols=symbols
    )
    async with sim:
        mode = f"{speed:g}x" if speed else "as fast as clients read"
        print(
            f"TWS simulator listening on {host}:{sim.port} — {path.name} ({', '.join(symbols) or 'no ticks'}), "
            f"{mode}{', looping' if loop else ''}; account {account}",
            flush=True,
        )
        scheduled = asyncio.get_running_loop().create_task(run_faults(sim, faults or []))
        try:
            await stop.wait()
        finally:
            scheduled.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduled


def _run(args: argparse.Namespace) -> int:
    from ..tickfile import bundled_session

    path = args.file or bundled_session()
    try:
        faults = [parse_fault(text) for text in args.fault]
    except ConfigError as error:
        print(f"rxstream sim: --fault {error.reason}", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = stop_on_signals()
        await run_simulator(
            path, host=args.host, port=args.port, speed=args.speed, loop=not args.no_loop, account=args.account,
            stop=stop, faults=faults,
        )

    try:
        asyncio.run(main())
    except RxstreamError as error:
        print(f"rxstream sim: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"rxstream sim: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
