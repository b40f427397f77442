"""The server processes: ``rxstream serve`` (the gateway over the engine, in one process).

Each command reads :class:`~rxstream.settings.Settings` (flags, ``RXSTREAM_*``,
TOML), has :mod:`rxstream.wiring` build what it runs, and hands the gateway the
resulting :class:`~rxstream.backend.Backend`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .errors import ConfigError
from .settings import Settings

__all__ = ["register"]

_EPILOG = """\
Every option can also be set as an environment variable RXSTREAM_<NAME> (e.g. RXSTREAM_MAX_CONNECTIONS=50)
or in a TOML file given with --config (name = value). Flags win over variables, variables over the file.
Examples:
  rxstream serve                                  # http://127.0.0.1:8080, the bundled EUR/USD session, looped
  rxstream serve --replay-speed 60 --port 9000
  rxstream serve --ibkr 127.0.0.1:7497 --symbols EURUSD,AAPL
"""


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the WebSocket gateway (/ws, /websocket/status, /metrics, /)",
        description="The gateway over the engine, on the bundled session replayed in real time or on IBKR.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    Settings.add_arguments(parser)
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .gateway.app import create_app, run
    from .wiring import engine_backend

    try:
        settings = Settings.load(args)
        app = create_app(settings, backend=engine_backend(settings))  # bad settings stop here, before anything listens
    except ConfigError as exc:
        print(f"rxstream serve: error: {exc}", file=sys.stderr)
        return 2
    run(settings, app)
    return 0
