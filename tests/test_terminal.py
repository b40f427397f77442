"""``rxstream top``: the terminal view of the standard pipelines over a paced replay."""

from __future__ import annotations

import asyncio

from rich.console import Console

from rxstream.engine import Engine
from rxstream.replay import ReplayFeed
from rxstream.terminal import _View


async def test_the_view_shows_prices_signals_and_health_from_the_bus(session_file) -> None:
    view = _View()
    async with Engine(feeds=[ReplayFeed(session_file, speed=1e6)]) as engine:
        engine.bus.subscribe(view.on_message)
        done = asyncio.Event()
        engine.bus.subscribe(lambda m: done.set() if m.topic == "signals" else None)
        await asyncio.wait_for(done.wait(), timeout=20)
        console = Console(record=True, width=160)
        console.print(view.render(engine))
    text = console.export_text()
    assert "EURUSD" in text and "price_updates" in text and "stream health" in text
    assert "BUY" in text or "SELL" in text
