"""``rxstream top``: the standard pipelines over a paced replay, drawn live in the terminal."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from .bus import Message
from .engine import Engine
from .replay import ReplayFeed

__all__ = ["run_terminal_demo"]


class _View:
    """What the terminal shows, fed by bus messages."""

    def __init__(self) -> None:
        self.prices: dict[str, Any] = {}
        self.signals: deque[Any] = deque(maxlen=8)
        self.trades: deque[Any] = deque(maxlen=8)
        self.counts: dict[str, int] = {}

    def on_message(self, message: Message) -> None:
        self.counts[message.topic] = message.seq
        value = message.value
        if message.topic == "price_updates":
            self.prices[value.symbol] = value
        elif message.topic == "signals":
            self.signals.appendleft(value)
        elif message.topic == "trade_executions":
            self.trades.appendleft(value)

    def render(self, engine: Engine) -> Group:
        prices = Table(title="price_updates", expand=True)
        for column in ("symbol", "bid", "ask", "time"):
            prices.add_column(column)
        for symbol, tick in sorted(self.prices.items()):
            prices.add_row(symbol, f"{tick.bid}", f"{tick.ask}", tick.time.strftime("%H:%M:%S"))
        signals = Table(title="signals", expand=True)
        for column in ("time", "symbol", "action", "confidence", "reason"):
            signals.add_column(column)
        for s in self.signals:
            colour = "green" if s.action == "BUY" else "red"
            signals.add_row(s.time.strftime("%H:%M:%S"), s.symbol, f"[{colour}]{s.action}[/]",
                            f"{s.confidence:.2f}", s.reason)
        health = Table(title="stream health", expand=True)
        for column in ("stream", "healthy", "messages", "errors", "recoveries", "last update"):
            health.add_column(column)
        assert engine.health is not None
        for name, h in engine.health.snapshot().items():
            ok = "[green]yes[/]" if h["is_healthy"] else "[red]no[/]"
            health.add_row(name, ok, str(h["total_updates"]), str(h["error_count"]),
                           str(h["recovery_attempts"]), h["last_update"] or "-")
        return Group(prices, signals, health)


async def run_terminal_demo(feed: ReplayFeed, *, seconds: float | None = None) -> None:
    """Run the standard pipelines over ``feed`` and redraw the view a few times a second."""
    view = _View()
    async with Engine(feeds=[feed]) as engine:
        unsubscribe = engine.bus.subscribe(view.on_message)
        try:
            with Live(view.render(engine), refresh_per_second=4, transient=False) as live:
                loop = asyncio.get_running_loop()
                deadline = None if seconds is None else loop.time() + seconds
                while deadline is None or loop.time() < deadline:
                    await asyncio.sleep(0.25)
                    live.update(view.render(engine))
        finally:
            unsubscribe()
