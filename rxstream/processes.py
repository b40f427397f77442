"""The server processes: ``rxstream serve``, ``rxstream ingest`` and ``rxstream gateway``.

Each command reads :class:`~rxstream.settings.Settings` (flags, ``RXSTREAM_*``,
TOML), has :mod:`rxstream.wiring` (in memory) or :mod:`rxstream.scaleout` (on
the Redis bus) build what it runs, and hands the gateway the resulting
:class:`~rxstream.backend.Backend`. A usage or configuration mistake prints one
line and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from .errors import ConfigError, LeaseHeld
from .settings import Settings

__all__ = ["register"]

_EPILOG = """\
Every option can also be set as an environment variable RXSTREAM_<NAME> (e.g. RXSTREAM_MAX_CONNECTIONS=50)
or in a TOML file given with --config (name = value). Flags win over variables, variables over the file.
Examples:
  rxstream serve                                  # http://127.0.0.1:8080, the bundled EUR/USD session, looped
  rxstream serve --replay-speed 60 --port 9000
  rxstream serve --ibkr 127.0.0.1:7497 --symbols EURUSD,AAPL
  rxstream serve --bus redis://127.0.0.1:6379/0   # the same, through Redis (see docs/deployment.md)
  rxstream ingest --bus redis://127.0.0.1:6379/0 [--standby]
  rxstream gateway --bus redis://127.0.0.1:6379/0 --port 8081
"""

_COMMANDS = {
    "serve": ("serve the WebSocket gateway (/ws, /websocket/status, /metrics, /) over the engine",
              "The gateway over the engine, on the bundled session replayed in real time or on IBKR; "
              "with --bus, through Redis."),
    "ingest": ("run the feeds and pipelines and publish into the Redis bus (no HTTP)",
               "Run the feeds (replay, or --ibkr) and the pipelines, and publish every message into the Redis "
               "bus given by --bus; one ingest per bus holds the write lease, a --standby one waits to take over."),
    "gateway": ("serve /ws, /websocket/status, /metrics and / from the Redis bus",
                "Serve WebSocket clients from the Redis bus given by --bus, with no feeds or pipelines of its own; "
                "run as many as needed behind a proxy."),
}


def register(subparsers: Any) -> None:
    """Add the ``serve``, ``ingest`` and ``gateway`` subcommands."""
    for name, run in (("serve", _serve), ("ingest", _ingest), ("gateway", _gateway)):
        help_, description = _COMMANDS[name]
        parser = subparsers.add_parser(
            name, help=help_, description=description, epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        Settings.add_arguments(parser)
        parser.set_defaults(func=run, command_name=name)


def _fail(command: str, error: Exception) -> int:
    print(f"rxstream {command}: error: {error}", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from .gateway.app import create_app, run

    try:
        settings = Settings.load(args)
        if settings.bus is not None:
            from .scaleout import ServeBackend

            backend: Any = ServeBackend(settings)
        else:
            from .wiring import engine_backend

            backend = engine_backend(settings)
        app = create_app(settings, backend=backend)  # bad settings stop here, before anything listens
    except ConfigError as exc:
        return _fail("serve", exc)
    try:
        run(settings, app)
    except LeaseHeld as exc:
        return _fail("serve", exc)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from .gateway.app import create_app, run
    from .scaleout import GatewayBackend

    try:
        settings = Settings.load(args)
        app = create_app(settings, backend=GatewayBackend(settings))
    except ConfigError as exc:
        return _fail("gateway", exc)
    run(settings, app)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(args)
        from .scaleout import bus_address

        bus_address(settings)
    except ConfigError as exc:
        return _fail("ingest", exc)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_run_ingest(settings))
    except (ConfigError, LeaseHeld) as exc:
        return _fail("ingest", exc)


async def _run_ingest(settings: Settings) -> int:
    from .scaleout import Ingest
    from .shutdown import stop_on_signals

    stop = stop_on_signals()
    loop = asyncio.get_running_loop()
    async with Ingest(settings, stop=stop) as ingest:
        if ingest.backend is None:  # a standby stopped before it took over
            return 0
        stopped = loop.create_task(stop.wait())
        lost = loop.create_task(ingest.lost.wait())
        await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        lost.cancel()
        if ingest.lost.is_set():
            print("rxstream ingest: error: another ingest took the write lease; stopped", file=sys.stderr)
            return 1
    return 0
