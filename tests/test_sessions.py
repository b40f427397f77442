"""Several recorded sessions played as one: the bundled EUR/USD and USD/JPY, side by side, in the demo too."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from rxstream.demo import run_demo
from rxstream.events import Tick
from rxstream.sessions import bundled_sessions, played_together
from rxstream.tickfile import read_events


def test_the_bundled_sessions_are_eurusd_and_usdjpy() -> None:
    assert [p.name for p in bundled_sessions()] == ["eurusd-2020-01-01.jsonl.gz", "usdjpy-2013-01-01.jsonl.gz"]


def test_played_together_starts_both_at_once_and_repeats_the_shorter_one() -> None:
    eurusd_file, usdjpy_file = bundled_sessions()
    eurusd, usdjpy = list(read_events(eurusd_file)), list(read_events(usdjpy_file))
    merged = list(played_together([eurusd_file, usdjpy_file]))
    times = [e.time for e in merged]
    assert times == sorted(times)
    assert merged[0].time == eurusd[0].time and times[-1] == eurusd[-1].time  # the longer session sets the clock
    mine = [e for e in merged if e.symbol == "EURUSD"]
    assert mine == eurusd  # the longest session is untouched
    theirs = [e for e in merged if e.symbol == "USDJPY"]
    shift = eurusd[0].time - usdjpy[0].time
    assert theirs[:len(usdjpy)] == [e._replace(time=e.time + shift) for e in usdjpy]  # the first pass
    period = usdjpy[-1].time - usdjpy[0].time + timedelta(seconds=1)  # then again, a second after its end
    n = len(usdjpy)
    assert theirs == [usdjpy[i % n]._replace(time=usdjpy[i % n].time + shift + i // n * period)
                      for i in range(len(theirs))]
    following = usdjpy[len(theirs) % n]
    assert following.time + shift + len(theirs) // n * period > eurusd[-1].time  # repeated until the clock ends
    assert len(theirs) // n == 10  # half an hour, repeated through six hours
    assert all(isinstance(e, Tick) for e in merged)


def test_played_together_of_one_session_is_that_session(session_file: Path) -> None:
    assert list(played_together([session_file])) == list(read_events(session_file))


async def test_the_demo_shows_both_instruments_with_their_own_signals() -> None:
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    demo = asyncio.create_task(run_demo(port=0, speed=1200, stop=stop, ready=lambda url, _: started.set_result(url)))
    url = await asyncio.wait_for(started, timeout=20)
    prices: set[str] = set()
    signals: set[str] = set()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url + "ws") as ws:
            await ws.send_str(orjson.dumps({"type": "subscribe", "topics": ["price_updates", "signals"]}).decode())

            async def until_both_have_prices_and_signals() -> None:
                while prices != {"EURUSD", "USDJPY"} or signals != {"EURUSD", "USDJPY"}:
                    decoded = orjson.loads(await ws.receive_str())
                    for message in decoded if isinstance(decoded, list) else [decoded]:
                        items: list[Any] = message.get("items") or [message.get("data")]
                        if message["type"] in ("data", "snapshot"):
                            target = prices if message["topic"] == "price_updates" else signals
                            target.update(item["symbol"] for item in items if item)

            await asyncio.wait_for(until_both_have_prices_and_signals(), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(demo, timeout=20)
    assert prices == signals == {"EURUSD", "USDJPY"}
