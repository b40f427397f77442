"""Save what ``make demo`` shows: ``python tests/demo_screenshot.py docs/images/demo.png [SECONDS]``.

Runs ``rxstream demo`` as a user would (its own process, a free port), opens the
dashboard in Debian's headless Chromium and saves the page once the demo has run
for SECONDS (default 75: long enough for signals, trades, positions and a first one-minute bar).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from browser_support import CHROMIUM, CHROMIUM_ARGS


async def shoot(url: str, path: Path, seconds: float, started: float) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1440, "height": 1000})
        await page.goto(url)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
        await page.screenshot(path=str(path), full_page=True, animations="disabled")
        await browser.close()


def main(path: Path, seconds: float) -> None:
    rxstream = Path(sys.executable).parent / "rxstream"
    demo = subprocess.Popen([str(rxstream), "demo", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert demo.stdout is not None
        banner = demo.stdout.readline()  # "rxstream demo — http://127.0.0.1:PORT/"
        url = banner.split("— ", 1)[1].strip()
        asyncio.run(shoot(url, path, seconds, time.monotonic()))
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    print(f"saved {path} ({seconds:g} s into the demo)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 75.0)
