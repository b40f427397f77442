"""Streaming a tick source to the simulator's clients, paced by the ticks' own timestamps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from ..events import Tick
from .session import Session

__all__ = ["drain", "stream_ticks"]


async def stream_ticks(
    source: Iterable[Any] | Callable[[], Iterable[Any]],
    push: Callable[[Tick], object],
    sessions: list[Session],
    *,
    speed: float,
    loop: bool,
    running: asyncio.Event,
) -> None:
    """Push every tick of ``source`` (other events are skipped), ``speed`` times faster than their
    timestamps (0: as fast as the clients read), waiting while ``running`` is clear (a stall, which
    does not count against the pacing); start over at the end when ``loop``."""
    clock = asyncio.get_running_loop()
    while True:
        count = 0
        start_wall = clock.time()
        start_tick: float | None = None
        for event in source() if callable(source) else source:
            if not isinstance(event, Tick):
                continue
            if speed:
                stamp = event.time.timestamp()
                if start_tick is None:
                    start_tick = stamp
                delay = start_wall + (stamp - start_tick) / speed - clock.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not running.is_set():
                paused = clock.time()
                await running.wait()
                start_wall += clock.time() - paused
            push(event)
            count += 1
            if count % 256 == 0:
                await drain(sessions)
        await drain(sessions)  # a short looping source must not starve the loop
        if not loop or count == 0:
            return


async def drain(sessions: list[Session]) -> None:
    """Wait until every client's socket buffer has room again, then yield to the loop once."""
    for session in list(sessions):
        with contextlib.suppress(ConnectionError):
            await session.writer.drain()  # type: ignore[attr-defined]
    await asyncio.sleep(0)
