"""The JavaScript client of docs/WEBSOCKET_USAGE.md, run as written in a real browser: it resumes without
loss across a restart, and after a new server process replays its fills it holds each one once."""

from __future__ import annotations

import re
from pathlib import Path

from browser_support import CHROMIUM, CHROMIUM_ARGS, RestartableSite, require_browser
from gateway_helpers import fill, make_bus, signal

from rxstream.gateway.app import StaticBackend, create_app
from rxstream.settings import Settings

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "WEBSOCKET_USAGE.md"

# Lets the test see the server's replies beside the client's own handler, so it can wait for the
# subscription before publishing (a lossless topic sends a new subscriber nothing from before).
OVERHEAR = """
window.heard = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      for (const m of Array.isArray(frame) ? frame : [frame]) window.heard.push(m.type);
    });
  }
};
"""


def documented_client() -> str:
    """The guide's ``connect`` function, without its example call."""
    section = GUIDE.read_text().split("## A JavaScript client that reconnects and resumes", 1)[1]
    code = re.search(r"```js\n(.*?)```", section, flags=re.S).group(1)  # type: ignore[union-attr]
    return code[: code.index('connect("ws://')]


async def test_the_documented_js_client_resumes_across_a_server_restart_without_loss() -> None:
    async_playwright = require_browser()
    bus = make_bus(history=100)
    site = RestartableSite(lambda: create_app(Settings(), backend=StaticBackend(bus)))
    await site.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(bypass_csp=True)  # the server's CSP forbids the inline scripts injected here
            await page.goto(site.url + "websocket/status")  # any page of the server's origin
            await page.add_script_tag(content=OVERHEAR)
            await page.add_script_tag(  # the guide's code, then the one line a user writes to call it
                content=documented_client()
                + f"window.got = []; connect('ws://127.0.0.1:{site.port}/ws', ['signals'], (m) => window.got.push(m));"
            )
            await page.wait_for_function("window.heard.includes('subscribed')", timeout=10_000)
            for n in range(1, 4):
                bus.publish("signals", signal(n))
            await page.wait_for_function("window.got.length === 3", timeout=10_000)

            await site.stop()  # the server goes away; the client backs off and retries
            for n in range(4, 7):
                bus.publish("signals", signal(n))  # published while the client is away
            await site.start()
            await page.wait_for_function("window.got.length >= 6", timeout=20_000)
            got = await page.evaluate("window.got.map((m) => [m.topic, m.seq, m.data.reason])")
            await browser.close()
    finally:
        await site.stop()
    assert got == [["signals", n, f"#{n}"] for n in range(1, 7)]  # every one, once, in order


async def test_the_documented_js_client_holds_each_fill_once_across_a_new_server() -> None:
    """A new server process (new epoch) whose broker sends the day's executions again."""
    async_playwright = require_browser()
    first = make_bus(epoch="epoch-1")
    site = RestartableSite(lambda: create_app(Settings(), backend=StaticBackend(first)))
    await site.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(bypass_csp=True)  # the server's CSP forbids the inline scripts injected here
            await page.goto(site.url + "websocket/status")
            await page.add_script_tag(content=OVERHEAR)
            await page.add_script_tag(  # a trade list kept as the guide says: onReset empties it
                content=documented_client()
                + "window.trades = []; window.resets = 0;"
                + f"connect('ws://127.0.0.1:{site.port}/ws', ['trade_executions'],"
                + " (m) => window.trades.push(m.data.exec_id), () => { window.trades = []; window.resets += 1; });"
            )
            await page.wait_for_function("window.heard.includes('subscribed')", timeout=10_000)
            for n in (1, 2, 3):
                first.publish("trade_executions", fill(n))
            await page.wait_for_function("window.trades.length === 3", timeout=10_000)

            await site.stop()
            restarted = make_bus(epoch="epoch-2")
            for n in (1, 2, 3, 4):  # the new process fetched the day's executions again
                restarted.publish("trade_executions", fill(n))
            site.make_app = lambda: create_app(Settings(), backend=StaticBackend(restarted))
            await site.start()
            await page.wait_for_function("window.resets === 1 && window.trades.length >= 4", timeout=20_000)
            restarted.publish("trade_executions", fill(2))  # the broker resends one, under a new seq
            restarted.publish("trade_executions", fill(5))
            await page.wait_for_function("window.trades.includes('exec-5')", timeout=10_000)
            trades = await page.evaluate("window.trades")
            await browser.close()
    finally:
        await site.stop()
    assert trades == [f"exec-{n}" for n in range(1, 6)]  # every fill, once
