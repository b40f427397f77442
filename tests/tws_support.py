"""Helpers for tests that drive the TWS simulator with ib_insync (or ib_async): its events, its command."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["next_event", "sim_command"]


def next_event(event: Any, predicate: Callable[..., bool] = lambda *a: True) -> asyncio.Future[Any]:
    """A future resolved with the args of ``event``'s next emit that satisfies ``predicate``."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def handler(*args: Any) -> None:
        if not future.done() and predicate(*args):
            future.set_result(args if len(args) != 1 else args[0])

    event += handler
    future.add_done_callback(lambda _: event.disconnect(handler))
    return future


@asynccontextmanager
async def sim_command(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int, str]]:
    """``rxstream sim --port 0 ARGS`` as a user starts it: the process, the port its banner names, and the banner.

    On the way out it is stopped with SIGTERM; when the body succeeded, the command must then exit 0.
    """
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rxstream.cli", "sim", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None
        banner = (await asyncio.wait_for(sim.stdout.readline(), 30)).decode()
        port = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
        assert port, banner
        yield sim, int(port[1]), banner
    finally:
        sim.terminate()
        await asyncio.wait_for(sim.wait(), 10)
    assert sim.returncode == 0
