"""Helpers for the browser tests: Debian's Chromium under Playwright, a restartable real server, test feeds.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (Debian's
``chromium`` package, installed by ``.ci/run``). Without it the browser test is skipped
with a clear reason, except under ``CI=true``, where it fails: CI must run it.
"""

from __future__ import annotations

import math
import os
import random
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import reactivex
from aiohttp import web
from reactivex import operators as ops

from rxstream.events import Tick
from rxstream.feed import FeedContext
from rxstream.pipelines import Pipeline, PipelineContext

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CSP",
    "ConsoleWatch",
    "FlakyFeed",
    "RestartableSite",
    "WalkFeed",
    "free_port",
    "require_browser",
    "screenshot_path",
    "with_csp",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true requires the browser test to run, but {reason}; .ci/run installs it "
                    f"(apt-get install chromium; pip install -e '.[test]')", pytrace=False)
    pytest.skip(f"make test skipped the browser test: {reason}")


def require_browser() -> Any:
    """``playwright.async_api.async_playwright``, or skip (fail under CI=true) naming what is missing."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"no {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    return async_playwright


def screenshot_path(tmp_path: Path) -> Path:
    """Where to save the dashboard screenshot: ``$RXSTREAM_SCREENSHOT`` or a file under ``tmp_path``."""
    chosen = os.environ.get("RXSTREAM_SCREENSHOT")
    path = Path(chosen) if chosen else tmp_path / "dashboard.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


CSP = "default-src 'self'"


def with_csp(app: web.Application) -> web.Application:
    """``app`` sending ``Content-Security-Policy: default-src 'self'`` on every response that has none.

    The page must work under it: no inline script, style or event handler, no ``data:`` URL.
    Chromium reports each violation as a console error, which :class:`ConsoleWatch` collects.
    """

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("Content-Security-Policy", CSP)

    app.on_response_prepare.append(add)
    return app


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RestartableSite:
    """An aiohttp app on a fixed real port that can be stopped and started again (a server restart).

    ``make_app`` builds a fresh application for each start (an app cannot be run twice);
    what it wraps (the engine and its bus) is the caller's and outlives the restarts.
    """

    def __init__(self, make_app: Callable[[], web.Application], port: int | None = None) -> None:
        self.make_app = make_app
        self.port = port or free_port()
        self.runner: web.AppRunner | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        runner = web.AppRunner(self.make_app(), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.runner = runner
        self.starts += 1

    async def stop(self) -> None:
        """Shut down: clients get close 1001, the listening socket is closed."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()


# Console messages Chromium itself logs when a request or WebSocket cannot connect: expected
# only while the test has the server down on purpose.
_NETWORK_ERROR = re.compile(
    r"net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE|ABORTED)"
    r"|WebSocket connection to '.*' failed"
)


@dataclass
class ConsoleWatch:
    """Collects a page's console errors and uncaught exceptions.

    While ``outage`` is set (the server is down on purpose), Chromium's own network-error
    lines are expected and kept apart in ``expected``; anything else is an error.
    """

    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outage: bool = False

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error":
            if self.outage and _NETWORK_ERROR.search(text):
                self.expected.append(text)
            else:
                self.errors.append(f"console.error: {text} ({message.location})")
        elif message.type == "warning":
            self.warnings.append(text)


class WalkFeed:
    """A test feed: random-walk quotes for a few symbols every ``interval`` s on the engine's scheduler."""

    name = "walk"

    def __init__(self, symbols: dict[str, float], interval: float = 0.1, seed: int = 7) -> None:
        self.mids = dict(symbols)
        self.interval = interval
        self.rng = random.Random(seed)
        self._timer: Any = None

    async def start(self, ctx: FeedContext) -> None:
        self._hub = ctx.sources["ticks"]
        self._scheduler = ctx.scheduler
        self._step(None, None)

    def _step(self, _scheduler: Any, _state: Any) -> None:
        now = datetime.now(UTC)
        for symbol, mid in self.mids.items():
            digits = 3 if mid > 50 else 5
            pip = 0.01 if mid > 50 else 0.0001
            mid = round(mid + self.rng.gauss(0, 0.6) * pip, digits)
            self.mids[symbol] = mid
            half = round(pip * (0.6 + abs(math.sin(now.timestamp()))) / 2, digits + 1)
            self._hub.on_next(Tick(symbol, now, round(mid - half, digits + 1), round(mid + half, digits + 1)))
        self._timer = self._scheduler.schedule_relative(self.interval, self._step)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.dispose()
            self._timer = None


@dataclass
class FlakyFeed:
    """A pipeline over a source that can be taken down: while ``down``, every (re)subscription
    and every value fails, as a broker connection that keeps refusing would; once back up, the
    next retry succeeds and reports itself with a ``connected`` value."""

    name: str = "market_news"
    source: str = "news"
    down: bool = False

    def pipeline(self) -> Pipeline:
        def build(ctx: PipelineContext) -> reactivex.Observable[Any]:
            def check(value: Any) -> Any:
                if self.down:
                    raise ConnectionError(f"{self.source} feed unreachable")
                return value

            def connect(_scheduler: Any) -> reactivex.Observable[Any]:
                if self.down:
                    return reactivex.throw(ConnectionError(f"{self.source} feed refused the connection"))
                return ctx.source(self.source).pipe(ops.start_with({"headline": "connected"}), ops.map(check))

            return reactivex.defer(connect)

        return Pipeline(self.name, build, sources=(self.source,), description="a news feed that can fail")
