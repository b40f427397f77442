"""The dashboard at ``GET /`` in a real headless Chromium against a real server on a real port.

One engine runs for the whole test: the bundled EUR/USD session replayed fast and looped,
random-walk quotes for four more symbols, the bundled pipelines, and a news pipeline whose
source the test can take down. The gateway app is a thin layer over that engine's bus, so
stopping and starting the site on the same port is a server restart that keeps the epoch:
trades published while the page is disconnected must reach it on resume, each exactly once.
A dropped connection (no close frame) and a new server process (a new epoch) follow: the new
server's broker sends the day's executions again, and the page still shows each fill once.
Every page is served with ``Content-Security-Policy: default-src 'self'``.

Two shorter tests follow: the chart draws candles from published ``bars_1m`` bars, and the
page's resume module (``static/resume.js``) passes the shared resume vectors in Chromium.

Chromium is Debian's (``/usr/bin/chromium``); see ``browser_support`` for when the test skips.
The screenshots go to ``$RXSTREAM_SCREENSHOT`` (and ``…-phone.png`` beside it) or a temporary file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    with_csp,
)
from gateway_helpers import make_bus, tick
from resume_vectors import VECTORS

from rxstream.bus import TopicSpec
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
PRICE_OF = {"EURUSD": 1.1215, **SYMBOLS}
SETTINGS = Settings(close_timeout=2.0)

LIVE = '#conn[data-state="live"]'
NOT_LIVE = '#conn:not([data-state="live"])'
NEWS_ROW = '#health-body tr[data-stream="market_news"]'


def make_fill(n: int, symbol: str = "EURUSD") -> Fill:
    side = "BUY" if n % 3 else "SELL"
    return Fill(f"0001f4e5.{n:04d}.01", 100 + n, "DU1234567", symbol, side, 10_000.0 * (1 + n % 4),
                PRICE_OF[symbol], 1.9 + n % 3 * 0.25, datetime.now(UTC))


def make_signal(n: int, symbol: str = "EURUSD") -> Signal:
    action = "BUY" if n % 2 else "SELL"
    confidence = round(0.35 + (n * 0.137) % 0.6, 3)
    return Signal("momentum", symbol, action, confidence, datetime.now(UTC),
                  f"breakout #{n}: 20-bar {'high' if action == 'BUY' else 'low'} taken out")


def gateway_over(engine: Engine) -> Any:
    """An app factory serving ``engine``'s bus; the engine is the caller's and outlives the app."""
    return lambda: with_csp(create_app(SETTINGS, backend=StaticBackend(engine.bus, engine.health, engine.scheduler)))


def bars(symbol: str, start: datetime, count: int, price: float, seed: int) -> list[dict[str, Any]]:
    """``count`` one-minute bars of ``symbol`` from ``start``, a random walk around ``price``."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        t0 = start + timedelta(minutes=n)
        opening = price
        path = [opening + rng.gauss(0, price * 4e-4) for _ in range(6)]
        price = path[-1]
        out.append({"type": "bar", "symbol": symbol, "start": t0.isoformat().replace("+00:00", "Z"),
                    "end": (t0 + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
                    "open": round(opening, 5), "high": round(max(opening, *path), 5),
                    "low": round(min(opening, *path), 5), "close": round(price, 5), "ticks": 6 + n % 5})
    return out


async def rows(page: Any, selector: str, at_least: int) -> None:
    """Wait until ``selector`` matches at least ``at_least`` elements."""
    await page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[selector, at_least], timeout=WAIT)


async def price_updates(page: Any, at_least: int) -> None:
    """Wait until every price row has been updated at least ``at_least`` times."""
    await page.wait_for_function(
        "n => [...document.querySelectorAll('#prices-body tr')].every(tr => Number(tr.dataset.updates) >= n)",
        arg=at_least, timeout=WAIT)


async def text(page: Any, selector: str) -> str:
    return (await page.text_content(selector)) or ""


@dataclass
class Scene:
    """What the phases share: the page, the engine behind the server, and the trades sent so far."""

    page: Any
    engine: Engine
    site: RestartableSite
    console: ConsoleWatch
    news: FlakyFeed
    fills: list[Fill] = field(default_factory=list)

    @property
    def sent(self) -> list[str]:
        return [f.exec_id for f in self.fills]

    def fill(self, fill: Fill, engine: Engine | None = None, *, repeat: bool = False) -> None:
        (engine or self.engine).sources["fills"].on_next(fill)
        if not repeat:
            self.fills.append(fill)

    async def client(self) -> dict[str, Any]:
        return await self.page.evaluate("() => window.rxdash.state")

    async def trade_ids(self) -> list[str]:
        return sorted(await self.page.evaluate("() => window.rxdash.tradeIds()"))


async def live_rows(s: Scene) -> None:
    """Prices appear and update; positions, signals with confidence and trades appear."""
    page = s.page
    for symbol in PRICE_OF:
        await page.wait_for_selector(f'#prices-body tr[data-symbol="{symbol}"]', timeout=WAIT)
    await price_updates(page, 3)
    bid = '#prices-body tr[data-symbol="GBPUSD"] td:nth-child(2)'
    first = await text(page, bid)
    await page.wait_for_function(
        "([sel, was]) => document.querySelector(sel).textContent !== was", arg=[bid, first], timeout=WAIT)

    now = datetime.now(UTC)
    for account, symbol, quantity, cost in (("DU1234567", "EURUSD", 250_000, 1.12081),
                                            ("DU1234567", "GBPUSD", -100_000, 1.27311),
                                            ("DU1234567", "USDJPY", 50_000, 157.118),
                                            ("DU7654321", "AUDUSD", 300_000, 0.65594)):
        s.engine.sources["positions"].on_next(PositionUpdate(account, symbol, quantity, cost, now))
    for n in range(1, 7):
        s.engine.sources["signals"].on_next(make_signal(n, ("EURUSD", "GBPUSD", "USDJPY")[n % 3]))
    batch = [make_fill(n, ("EURUSD", "GBPUSD", "USDJPY")[n % 3]) for n in range(1, 9)]
    for f in batch:
        s.fill(f)
    s.fill(batch[0], repeat=True)  # a broker resending an execution: the pipeline dedupes it

    await rows(page, "#positions-body tr", 4)
    await rows(page, "#signals-feed li", 6)
    await rows(page, "#trades-body tr", 8)
    assert await s.trade_ids() == sorted(s.sent)
    assert await text(page, '#positions-body tr[data-key="DU1234567:GBPUSD"] td:nth-child(3)') == "-100,000"

    # the last 40 minutes' bars, as a bars_1m pipeline running that long would have published them
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    for n, (symbol, price) in enumerate(PRICE_OF.items()):
        for bar in bars(symbol, minute - timedelta(minutes=40), 40, price, seed=n):
            s.engine.bus.publish("bars_1m", bar)
    await page.click('#prices-body tr[data-symbol="EURUSD"]')  # the chart follows the clicked row
    await page.wait_for_function(
        "() => { const c = document.querySelector('#candles');"
        " return c.dataset.symbol === 'EURUSD' && Number(c.dataset.candles) >= 40; }", timeout=WAIT)
    width = await page.get_attribute('#signals-feed li[data-symbol="GBPUSD"] .bar i', "style")
    assert width and "width" in width


async def health_follows_a_failing_source(s: Scene) -> None:
    """A source failing over and over turns its stream unhealthy; its recovery turns it back."""
    page = s.page
    await page.wait_for_selector(f'{NEWS_ROW}[data-healthy="true"]', timeout=WAIT)
    assert await page.locator('#health-body tr[data-healthy="false"]').count() == 0
    assert await page.evaluate("window.rxdash.state.healthPushed")  # fed by the stream_health topic
    s.news.down = True
    s.engine.sources["news"].on_next({"headline": "ECB holds rates"})  # fails; every retry fails too
    await page.wait_for_selector(f'{NEWS_ROW}[data-healthy="false"]', timeout=WAIT)
    errors = int(await text(page, f"{NEWS_ROW} td:nth-child(4)"))
    recoveries = int(await text(page, f"{NEWS_ROW} td:nth-child(5)"))
    assert errors >= 10 and recoveries >= 10
    assert await page.get_attribute("#health-summary", "data-healthy") == "false"
    s.news.down = False
    await page.wait_for_selector(f'{NEWS_ROW}[data-healthy="true"]', timeout=WAIT)
    await page.wait_for_selector('#health-summary[data-healthy="true"]', timeout=WAIT)


async def resumes_after_restart(s: Scene) -> None:
    """Trades and signals published while the server is down arrive once, after the restart."""
    page = s.page
    s.console.outage = True
    await s.site.stop()
    await page.wait_for_selector(NOT_LIVE, timeout=WAIT)
    missed = [make_fill(n) for n in range(9, 14)]
    for f in missed:
        s.fill(f)
    for n in range(7, 10):
        s.engine.sources["signals"].on_next(make_signal(n))
    s.fill(missed[0], repeat=True)
    await s.site.start()
    await page.wait_for_selector(LIVE, timeout=WAIT)
    await rows(page, "#trades-body tr", len(s.sent))
    s.console.outage = False
    for n in (14, 15):
        s.fill(make_fill(n))
    await rows(page, "#trades-body tr", len(s.sent))

    assert await s.trade_ids() == sorted(s.sent), "every trade exactly once"
    client = await s.client()
    assert client["recovered"]["trade_executions"] is True and client["recovered"]["signals"] is True
    assert all(client["recovered"].values()), client["recovered"]  # every lossless topic the page follows
    assert client["gaps"] == 0 and client["epochChanges"] == 0
    assert client["lastSeq"]["trade_executions"] == len(s.sent)
    feed = await page.eval_on_selector_all(
        "#signals-feed li",
        "els => els.map(e => [Number(e.dataset.seq), e.querySelector('.strat').textContent,"
        " e.querySelector('.reason').textContent])")
    seqs = sorted(seq for seq, _, _ in feed)
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "signals: none lost, none twice"
    assert client["lastSeq"]["signals"] == seqs[-1]
    ours = sorted(int(reason.split("#")[1].split(":")[0]) for _, who, reason in feed if who == "momentum")
    assert ours == list(range(1, 10))
    await page.wait_for_selector("#notice:not([hidden])", timeout=WAIT)
    assert "resumed" in await text(page, "#notice")


async def resumes_after_a_blip(s: Scene) -> None:
    """The connection drops with no close frame; trades sent meanwhile arrive once."""
    assert s.site.runner is not None
    for channel in list(s.site.runner.app[BROADCASTER].channels.values()):
        channel.sink.abort()
    for n in (16, 17):
        s.fill(make_fill(n, "AUDUSD"))
    await rows(s.page, "#trades-body tr", len(s.sent))
    await s.page.wait_for_selector(LIVE, timeout=WAIT)
    assert await s.trade_ids() == sorted(s.sent)
    client = await s.client()
    assert client["connects"] == 3 and client["recovered"]["trade_executions"] is True


async def screenshots(s: Scene, path: Path) -> None:
    """A populated dashboard on a laptop; then a phone-sized viewport that never scrolls sideways."""
    page = s.page
    await price_updates(page, 12)
    await page.wait_for_selector('#health-summary[data-healthy="true"]', timeout=WAIT)
    await page.screenshot(path=str(path), full_page=True, animations="disabled")
    assert path.stat().st_size > 10_000
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
    assert await page.is_visible('#prices-body tr[data-symbol="EURUSD"]')
    await page.screenshot(path=str(path.with_name(f"{path.stem}-phone.png")), animations="disabled")
    await page.set_viewport_size({"width": 1440, "height": 1000})


async def new_epoch_after_a_new_server(s: Scene) -> None:
    """A new server process (new bus, new epoch) whose broker sends the day's executions again:
    the page resets to the new server's state, and shows every fill once."""
    page = s.page
    s.console.outage = True
    await s.site.stop()
    await page.wait_for_selector(NOT_LIVE, timeout=WAIT)
    async with Engine(settings=s.engine.settings) as fresh:
        s.site.make_app = gateway_over(fresh)
        await s.site.start()
        await page.wait_for_selector(LIVE, timeout=WAIT)
        s.console.outage = False
        for f in s.fills:  # the restarted broker connection re-requests the day's executions
            fresh.sources["fills"].on_next(f)
        late = make_fill(18, "USDCHF")
        s.fill(late, fresh)
        await page.wait_for_selector(f'#trades-body tr[data-exec-id="{late.exec_id}"]', timeout=WAIT)
        ids = await page.evaluate("() => window.rxdash.tradeIds()")
        assert sorted(ids) == sorted(s.sent) and len(ids) == len(set(ids)), "every fill exactly once"
        client = await s.client()
        assert client["epoch"] == fresh.bus.epoch and client["epochChanges"] == 1
        assert client["recovered"]["trade_executions"] is False and client["resets"] >= 2
        assert await page.is_visible("#positions-empty")  # the new server holds no positions
        await page.wait_for_function(
            "() => document.querySelector('#notice').textContent.includes('new epoch')", timeout=WAIT)
        await s.site.stop()


async def test_dashboard_is_live_follows_health_and_resumes_after_restart(tmp_path) -> None:
    async_playwright = require_browser()
    news = FlakyFeed()
    engine = Engine(
        pipelines=[*load_pipelines(None), news.pipeline()],
        settings={"price_update_interval": 0.25, "portfolio_update_interval": 0.25},
        feeds=[ReplayFeed(speed=240, loop=True), WalkFeed(SYMBOLS, interval=0.15)],
        backoff=Backoff(initial=0.05, factor=1.0, maximum=0.05, jitter=0.0),
    )
    console = ConsoleWatch()
    async with engine:
        site = RestartableSite(gateway_over(engine))  # a restart keeps the engine, its bus and its epoch
        await site.start()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                    console.attach(page)
                    await page.goto(site.url)
                    await page.wait_for_selector(LIVE, timeout=WAIT)
                    scene = Scene(page, engine, site, console, news)
                    await live_rows(scene)
                    await health_follows_a_failing_source(scene)
                    await resumes_after_restart(scene)
                    await resumes_after_a_blip(scene)
                    await screenshots(scene, screenshot_path(tmp_path))
                    await new_epoch_after_a_new_server(scene)
                finally:
                    await browser.close()
        finally:
            await site.stop()
    assert console.errors == [], console.errors


CANDLES = """() => [...document.querySelectorAll('#candles g.candle')].map((g) => {
  const wick = g.querySelector('line'), body = g.querySelector('rect');
  return {start: g.dataset.start, kind: g.getAttribute('class'), high: Number(wick.getAttribute('y1')),
          low: Number(wick.getAttribute('y2')), top: Number(body.getAttribute('y')),
          height: Number(body.getAttribute('height'))};
})"""


async def test_the_chart_draws_candles_of_the_selected_symbol_from_bars_1m() -> None:
    async_playwright = require_browser()
    bus = make_bus(history=1000)
    bus.declare(TopicSpec("bars_1m", "lossless", history=1000))
    t0 = datetime(2024, 12, 19, 12, tzinfo=UTC)
    eurusd = bars("EURUSD", t0, 30, 1.1215, seed=1)
    usdjpy = bars("USDJPY", t0, 20, 157.42, seed=2)
    for bar in eurusd + usdjpy:  # published before the page opens: it backfills them
        bus.publish("bars_1m", bar)
    site = RestartableSite(lambda: with_csp(create_app(Settings(), backend=StaticBackend(bus))))
    console = ConsoleWatch()
    await site.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                console.attach(page)
                await page.goto(site.url)
                await page.wait_for_selector('#candles[data-symbol="EURUSD"][data-candles="30"]', timeout=WAIT)
                drawn = await page.evaluate(CANDLES)
                assert [c["start"] for c in drawn] == [b["start"] for b in eurusd]
                for candle, bar in zip(drawn, eurusd, strict=True):
                    kind = "up" if bar["close"] > bar["open"] else "down" if bar["close"] < bar["open"] else "flat"
                    assert candle["kind"] == f"candle {kind}"
                    assert candle["high"] <= candle["top"] and candle["top"] + candle["height"] <= candle["low"] + 0.2
                    assert candle["height"] >= 1
                highest = max(range(30), key=lambda i: eurusd[i]["high"])
                assert min(c["high"] for c in drawn) == drawn[highest]["high"]  # the highest bar reaches highest

                live = bars("EURUSD", t0 + timedelta(minutes=30), 1, eurusd[-1]["close"], seed=3)[0]
                bus.publish("bars_1m", live)
                await page.wait_for_selector('#candles[data-candles="31"]', timeout=WAIT)
                assert live["start"][11:16] in await text(page, "#chart-ohlc")

                await page.select_option("#chart-symbol", "USDJPY")
                await page.wait_for_selector('#candles[data-symbol="USDJPY"][data-candles="20"]', timeout=WAIT)
                bus.publish("price_updates", tick("GBPUSD", 1.2712))
                await page.click('#prices-body tr[data-symbol="GBPUSD"]')
                await page.wait_for_selector(
                    '#candles[data-symbol="GBPUSD"][data-candles="0"]', state="attached", timeout=WAIT)
                assert await page.is_visible("#chart-empty")
                assert await page.get_attribute('#prices-body tr[data-symbol="GBPUSD"]', "class") == "selected"
            finally:
                await browser.close()
    finally:
        await site.stop()
    assert console.errors == [], console.errors


RUN_VECTORS = """async (vectors) => {
  const { ResumeState } = await import('/static/resume.js');
  const { BACKOFF, backoffDelay } = await import('/static/backoff.js');
  const cases = vectors.cases.map((c) => {
    const state = new ResumeState();
    return c.steps.map((step) => step.resume
      ? state.resume(step.resume.topics, { backfill: step.resume.backfill })
      : state.receive(step.in).map((d) => (d.value === null ? [d.action, d.topic] : [d.action, d.topic, d.value])));
  });
  const delays = vectors.backoff.cases.map((b) => backoffDelay(b.attempt, vectors.backoff.parameters, () => b.u));
  return { cases, delays, parameters: { ...BACKOFF } };
}"""


async def test_the_page_passes_the_shared_resume_vectors_in_chromium() -> None:
    async_playwright = require_browser()
    site = RestartableSite(lambda: with_csp(create_app(Settings(), backend=StaticBackend(make_bus()))))
    await site.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(site.url + "websocket/status")  # any page of the origin can import the module
                got = await page.evaluate(RUN_VECTORS, VECTORS)
            finally:
                await browser.close()
    finally:
        await site.stop()
    assert got["parameters"] == VECTORS["backoff"]["parameters"], "the page reconnects as the Python client does"
    for case, results in zip(VECTORS["cases"], got["cases"], strict=True):
        for n, (step, result) in enumerate(zip(case["steps"], results, strict=True)):
            expected = step["expect"] if "resume" in step else step["out"]
            assert result == expected, f"{case['name']}, step {n}: {step.get('in', step.get('resume'))}"
    for case, delay in zip(VECTORS["backoff"]["cases"], got["delays"], strict=True):
        assert delay == pytest.approx(case["delay"], rel=1e-12), case
