"""The dashboard at ``GET /`` in a real headless Chromium against a real server on a real port.

One engine runs for the whole test: the bundled EUR/USD session replayed fast and looped,
random-walk quotes for two more symbols, the bundled pipelines, and a news pipeline whose
source the test can take down. The gateway app is a thin layer over that engine's bus, so
stopping and starting the site on the same port is a server restart that keeps the epoch:
trades published while the page is disconnected must reach it on resume, each exactly once.

Chromium is Debian's (``/usr/bin/chromium``); see ``browser_support`` for when the test skips.
The screenshot goes to ``$RXSTREAM_SCREENSHOT`` or a temporary file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleWatch,
    FlakyFeed,
    RestartableSite,
    WalkFeed,
    require_browser,
    screenshot_path,
)

from rxstream.engine import Engine
from rxstream.events import Fill, PositionUpdate, Signal
from rxstream.gateway.app import BROADCASTER, StaticBackend, create_app
from rxstream.operators import Backoff
from rxstream.pipelines import load_pipelines
from rxstream.replay import ReplayFeed
from rxstream.settings import Settings

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms: the longest any page condition may take
SYMBOLS = {"GBPUSD": 1.2712, "USDJPY": 157.42, "AUDUSD": 0.6571, "USDCHF": 0.8843}


def make_fill(n: int, symbol: str = "EURUSD", price: float = 1.1215) -> Fill:
    side = "BUY" if n % 3 else "SELL"
    return Fill(f"0001f4e5.{n:04d}.01", 100 + n, "DU1234567", symbol, side, 10_000.0 * (1 + n % 4), price,
                1.9 + n % 3 * 0.25, datetime.now(UTC))


def make_signal(n: int, symbol: str = "EURUSD") -> Signal:
    action = "BUY" if n % 2 else "SELL"
    confidence = round(0.35 + (n * 0.137) % 0.6, 3)
    return Signal("momentum", symbol, action, confidence, datetime.now(UTC),
                  f"breakout #{n}: 20-bar {'high' if action == 'BUY' else 'low'} taken out")


async def count(page, selector: str) -> int:
    return await page.locator(selector).count()


async def test_dashboard_is_live_follows_health_and_resumes_after_restart(tmp_path) -> None:
    async_playwright = require_browser()
    news = FlakyFeed()
    engine = Engine(
        pipelines=[*load_pipelines(None), news.pipeline()],
        settings={"price_update_interval": 0.25, "portfolio_update_interval": 0.25},
        feeds=[ReplayFeed(speed=240, loop=True), WalkFeed(SYMBOLS, interval=0.15)],
        backoff=Backoff(initial=0.05, factor=1.0, maximum=0.05, jitter=0.0),
    )
    settings = Settings(price_update_interval=0.25, portfolio_update_interval=0.25, close_timeout=2.0)
    async with engine:
        # the engine outlives the gateway: a restart of the site keeps the bus and its epoch
        site = RestartableSite(
            lambda: create_app(settings, backend=StaticBackend(engine.bus, engine.health, engine.scheduler))
        )
        await site.start()
        console = ConsoleWatch()
        fills, signals = engine.sources["fills"], engine.sources["signals"]
        positions = engine.sources["positions"]
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                    console.attach(page)
                    await page.goto(site.url)
                    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT)

                    # --- live rows: prices update, positions, signals and trades appear -----------
                    for symbol in ("EURUSD", *SYMBOLS):
                        await page.wait_for_selector(f'#prices-body tr[data-symbol="{symbol}"]', timeout=WAIT)
                    await page.wait_for_function(
                        """() => [...document.querySelectorAll('#prices-body tr')]
                                   .every(tr => Number(tr.dataset.updates) >= 3)""",
                        timeout=WAIT,
                    )
                    first_bid = await page.text_content('#prices-body tr[data-symbol="GBPUSD"] td:nth-child(2)')
                    await page.wait_for_function(
                        """(bid) => document.querySelector('#prices-body tr[data-symbol="GBPUSD"] td:nth-child(2)')
                                   .textContent !== bid""",
                        arg=first_bid, timeout=WAIT,
                    )

                    now = datetime.now(UTC)
                    for account, symbol, qty, cost in (("DU1234567", "EURUSD", 250_000, 1.12081),
                                                       ("DU1234567", "GBPUSD", -100_000, 1.27311),
                                                       ("DU1234567", "USDJPY", 50_000, 157.118),
                                                       ("DU7654321", "AUDUSD", 300_000, 0.65594)):
                        positions.on_next(PositionUpdate(account, symbol, qty, cost, now))
                    for n in range(1, 7):
                        signals.on_next(make_signal(n, ("EURUSD", "GBPUSD", "USDJPY")[n % 3]))
                    sent_fills = [make_fill(n, ("EURUSD", "GBPUSD", "USDJPY")[n % 3],
                                            (1.1215, 1.2712, 157.42)[n % 3]) for n in range(1, 9)]
                    for f in sent_fills:
                        fills.on_next(f)
                    fills.on_next(sent_fills[0])  # a broker resending an execution: deduped by the pipeline

                    await page.wait_for_function(
                        "() => document.querySelectorAll('#positions-body tr').length === 4", timeout=WAIT)
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#signals-feed li').length >= 6", timeout=WAIT)
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#trades-body tr').length === 8", timeout=WAIT)
                    assert await page.text_content('#positions-body tr[data-key="DU1234567:GBPUSD"] td:nth-child(3)') \
                        == "-100,000"
                    conf = await page.get_attribute('#signals-feed li[data-symbol="GBPUSD"] .bar i', "style")
                    assert conf and "width" in conf

                    # --- health: a failing source turns its stream unhealthy, recovery turns it back --
                    await page.wait_for_selector('#health-body tr[data-stream="market_news"][data-healthy="true"]',
                                                 timeout=WAIT)
                    assert await count(page, '#health-body tr[data-healthy="false"]') == 0
                    news.down = True
                    engine.sources["news"].on_next({"headline": "ECB holds rates"})  # fails, then retries fail
                    await page.wait_for_selector('#health-body tr[data-stream="market_news"][data-healthy="false"]',
                                                 timeout=WAIT)
                    errors = await page.text_content('#health-body tr[data-stream="market_news"] td:nth-child(4)')
                    recoveries = await page.text_content('#health-body tr[data-stream="market_news"] td:nth-child(5)')
                    assert int(errors) >= 10 and int(recoveries) >= 10
                    assert await page.get_attribute("#health-summary", "data-healthy") == "false"
                    news.down = False
                    await page.wait_for_selector('#health-body tr[data-stream="market_news"][data-healthy="true"]',
                                                 timeout=WAIT)
                    await page.wait_for_selector('#health-summary[data-healthy="true"]', timeout=WAIT)

                    # --- server restart: trades published while the page is away arrive exactly once --
                    console.outage = True
                    await site.stop()
                    await page.wait_for_selector('#conn:not([data-state="live"])', timeout=WAIT)
                    missed = [make_fill(n) for n in range(9, 14)]
                    for f in missed:
                        fills.on_next(f)
                    for n in range(7, 10):
                        signals.on_next(make_signal(n))
                    fills.on_next(missed[0])  # resent after the "broker" reconnect: still once
                    await site.start()
                    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT)
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#trades-body tr').length >= 13", timeout=WAIT)
                    console.outage = False
                    after = [make_fill(n) for n in range(14, 16)]
                    for f in after:
                        fills.on_next(f)
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#trades-body tr').length >= 15", timeout=WAIT)

                    shown = await page.evaluate("() => window.rxdash.tradeIds()")
                    expected = [f.exec_id for f in (*sent_fills, *missed, *after)]
                    assert sorted(shown) == sorted(expected), "every trade exactly once"
                    client = await page.evaluate("() => window.rxdash.state")
                    assert client["recovered"]["trade_executions"] is True
                    assert client["recovered"]["signals"] is True
                    assert client["gaps"] == 0 and client["epochChanges"] == 0
                    assert client["lastSeq"]["trade_executions"] == len(expected)
                    feed = await page.eval_on_selector_all(
                        "#signals-feed li",
                        "els => els.map(e => [Number(e.dataset.seq), e.querySelector('.strat').textContent,"
                        " e.querySelector('.reason').textContent])")
                    seqs = sorted(seq for seq, _, _ in feed)
                    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "signals: none lost, none twice"
                    assert client["lastSeq"]["signals"] == seqs[-1]
                    ours = sorted(int(reason.split("#")[1].split(":")[0]) for _, strategy, reason in feed
                                  if strategy == "momentum")
                    assert ours == list(range(1, 10))
                    await page.wait_for_selector("#notice:not([hidden])", timeout=WAIT)
                    assert "resumed" in (await page.text_content("#notice"))

                    # --- a network blip: the connection drops without a close; the page resumes -----------
                    assert site.runner is not None
                    for channel in list(site.runner.app[BROADCASTER].channels.values()):
                        channel.sink.abort()
                    blip = [make_fill(n, "AUDUSD", 0.6571) for n in range(16, 18)]
                    for f in blip:
                        fills.on_next(f)
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#trades-body tr').length >= 17", timeout=WAIT)
                    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT)
                    shown = await page.evaluate("() => window.rxdash.tradeIds()")
                    assert sorted(shown) == sorted([*expected, *(f.exec_id for f in blip)])
                    client = await page.evaluate("() => window.rxdash.state")
                    assert client["connects"] == 3 and client["recovered"]["trade_executions"] is True

                    # --- a populated dashboard, on a laptop and on a phone ------------------------------
                    await page.wait_for_function(
                        """() => [...document.querySelectorAll('#prices-body tr')]
                                   .every(tr => Number(tr.dataset.updates) >= 12)""",
                        timeout=WAIT,
                    )
                    await page.wait_for_selector('#health-summary[data-healthy="true"]', timeout=WAIT)
                    path = screenshot_path(tmp_path)
                    await page.screenshot(path=str(path), full_page=True, animations="disabled")
                    assert path.stat().st_size > 10_000

                    await page.set_viewport_size({"width": 390, "height": 844})
                    overflow = await page.evaluate(
                        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
                    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
                    assert await page.is_visible('#prices-body tr[data-symbol="EURUSD"]')
                    await page.screenshot(path=str(path.with_name(f"{path.stem}-phone.png")), full_page=False,
                                          animations="disabled")

                    # --- a new server process (new bus, new epoch): state reloads, trades stay, none twice --
                    console.outage = True
                    await site.stop()
                    await page.wait_for_selector('#conn:not([data-state="live"])', timeout=WAIT)
                    async with Engine(settings=engine.settings) as fresh:
                        site.make_app = lambda: create_app(
                            settings, backend=StaticBackend(fresh.bus, fresh.health, fresh.scheduler))
                        await site.start()
                        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT)
                        console.outage = False
                        late = make_fill(18, "USDCHF", 0.8843)
                        fresh.sources["fills"].on_next(blip[-1])  # the broker replays an execution it sent before
                        fresh.sources["fills"].on_next(late)
                        await page.wait_for_selector(f'#trades-body tr[data-exec-id="{late.exec_id}"]', timeout=WAIT)
                        client = await page.evaluate("() => window.rxdash.state")
                        assert client["epoch"] == fresh.bus.epoch and client["epochChanges"] == 1
                        assert client["recovered"]["trade_executions"] is False
                        shown = await page.evaluate("() => window.rxdash.tradeIds()")
                        assert sorted(shown) == sorted([*expected, *(f.exec_id for f in (*blip, late))])
                        assert await page.is_visible("#positions-empty")  # the new server holds no positions
                        await site.stop()
                finally:
                    await browser.close()
        finally:
            await site.stop()
    assert console.errors == [], console.errors
