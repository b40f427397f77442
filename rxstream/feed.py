"""What a feed is and what it is handed: the :class:`Feed` protocol and its :class:`FeedContext`.

A feed pushes events into an engine's sources while the engine runs (a replay,
a broker, an order placer following a pipeline). It receives a :class:`FeedContext`
with exactly what it may use — the hubs, the health monitor, the clock and the
loop — never the engine itself, just as a pipeline receives a
:class:`~rxstream.pipelines.PipelineContext`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reactivex.abc import SchedulerBase

from .health import HealthMonitor
from .hub import Hub

__all__ = ["Feed", "FeedContext"]


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What a running engine hands each feed on start.

    Attributes:
        sources: The input hubs by name (``ticks``, ``positions``, ``fills``, ``signals``, ...).
        outputs: Each pipeline's output hub, by pipeline name (what a feed that follows a pipeline reads).
        health: The engine's health monitor; a feed registers and reports its own streams there.
        scheduler: The engine's clock: the asyncio loop's live, a virtual one in a replay or a test.
        loop: The asyncio loop the engine runs on, or ``None`` when it runs in virtual time only.
    """

    sources: Mapping[str, Hub[Any]]
    outputs: Mapping[str, Hub[Any]]
    health: HealthMonitor
    scheduler: SchedulerBase
    loop: asyncio.AbstractEventLoop | None


class Feed(Protocol):
    """Something that pushes events into an engine's sources while it runs (a replay, a broker)."""

    name: str

    async def start(self, ctx: FeedContext) -> None:
        """Begin pushing into ``ctx.sources``; called once the pipelines are subscribed."""

    async def stop(self) -> None:
        """Stop pushing and release everything (sockets, tasks, callbacks)."""
