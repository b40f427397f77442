"""``rxstream demo``: the whole chain on the bundled real sessions, with no broker.

::

    TWS simulator ──TCP──▶ ib_insync ──▶ IBKRFeed ──▶ ticks / positions / fills
    (bundled EUR/USD +                                    │
     USD/JPY sessions,                                    │
     looped, at --speed)                                  ▼
          ▲                         pipelines: price_updates, ma_crossover ▶ signals, ...
          │                                               │
          └──── market orders ◀── SignalTrader ◀── signals┘   fills come back as trade_executions
                                                          │
                                    gateway: /  /ws  /websocket/status  /metrics

Everything runs in one process and one event loop; Ctrl-C stops it cleanly
(clients get 1001, the IBKR socket is closed, the simulator stops).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from .addresses import bind_listening
from .autotrade import SignalTrader
from .errors import ConfigError
from .gateway.app import create_app
from .sessions import bundled_sessions, played_together
from .settings import Settings
from .shutdown import quiet_cancelled_connect, stop_on_signals
from .testing.server import TwsSimulator
from .tickfile import symbols_in
from .wiring import engine_backend

__all__ = ["run_demo"]

GUIDE = """\
rxstream demo — {url}

  open {url} in a browser:
    prices      {what}, {speed:g}x speed, conflated per symbol
    signals     the example SMA crossover evaluator (pipelines/ma_crossover.py)
    trades      its BUY/SELL signals become market orders on the TWS simulator; the fills come back
    positions   the simulator's account, moving with every fill
    health      every stream: healthy while data flows, red (with the reason) when a source fails

  {url}websocket/status   stream health as JSON
  {url}metrics            Prometheus metrics
  TWS simulator on 127.0.0.1:{sim_port} (ib_insync clients may connect too)

  Ctrl-C stops everything.
"""


async def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    speed: float = 120.0,
    file: Path | None = None,
    quantity: float = 20_000,
    stop: asyncio.Event | None = None,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Run the simulator, the IBKR feed, the pipelines, the trader and the gateway until ``stop`` is set.

    Args:
        host, port: where the gateway listens (port 0 picks a free one).
        speed: replay speed of the recorded session (120 = two minutes per second).
        file: tick file for the simulator (default: the bundled EUR/USD and USD/JPY sessions, played together).
        quantity: the trader's position size per signal.
        stop: set it to stop (default: SIGINT / SIGTERM).
        ready: called with the dashboard URL and the simulator's port once everything listens.
    """
    paths = [file] if file is not None else bundled_sessions()
    stop = stop if stop is not None else stop_on_signals()
    sockets = bind_listening(host, port)  # a busy port stops here, before the simulator or the feed start
    symbols = sorted({symbol for path in paths for symbol in symbols_in(path)}) or ["EURUSD"]
    async with TwsSimulator(lambda: played_together(paths), speed=speed, loop=True, symbols=symbols) as sim:
        settings = Settings(host=host, port=port, ibkr=f"127.0.0.1:{sim.port}", symbols=tuple(symbols))
        backend = engine_backend(settings)
        broker = backend.ibkr
        if broker is None:  # settings.ibkr is set just above
            raise ConfigError("ibkr", "the demo needs the IBKR feed")
        backend.add_feed(SignalTrader(broker.place_market_order, quantity=quantity))
        runner = web.AppRunner(create_app(settings, backend=backend), handle_signals=False)
        await runner.setup()
        try:
            for sock in sockets:
                await web.SockSite(runner, sock).start()
            bound = runner.addresses[0][1] if runner.addresses else port
            url = f"http://{host}:{bound}/"
            if ready is not None:
                ready(url, sim.port)
            else:
                what = str(file) if file is not None else "EUR/USD (2020-01-01) and USD/JPY (2013-01-01), recorded"
                print(GUIDE.format(url=url, speed=speed, sim_port=sim.port, what=what), flush=True)
            await stop.wait()
        finally:
            with quiet_cancelled_connect():
                await runner.cleanup()

