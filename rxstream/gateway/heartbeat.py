"""One heartbeat for every connection: a single timer pings the silent and drops the unanswering.

A connection costs no timer of its own: every ``interval / 2`` seconds :meth:`Heartbeat.sweep`
looks at each channel's last sign of life (any frame it sent, pongs included). A channel
silent for ``interval`` is pinged; one that has not answered ``interval / 2`` after its ping
is dropped (its socket aborted, as a dead peer's would be). ``sweep`` takes the time as an
argument, so the rule is tested without waiting (``tests/test_gateway_heartbeat.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from .channel import Channel

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Pings channels silent for ``interval`` seconds; drops those that do not answer in ``interval / 2``."""

    __slots__ = ("_handle", "channels", "interval", "on_drop")

    def __init__(self, interval: float, channels: Callable[[], Iterable[Channel]],
                 on_drop: Callable[[Channel], None] = lambda channel: None) -> None:
        self.interval = interval
        self.channels = channels
        self.on_drop = on_drop
        self._handle: asyncio.TimerHandle | None = None

    def sweep(self, now: float) -> list[Channel]:
        """Ping the silent, drop the unanswering, at ``now`` (the clock of ``Channel.heard``); the dropped."""
        dropped: list[Channel] = []
        grace = self.interval / 2
        for channel in list(self.channels()):
            pinged = channel.pinged
            if pinged is not None:
                if channel.heard >= pinged:
                    channel.pinged = pinged = None
                elif now - pinged >= grace:
                    log.info("connection %s: no answer to a ping in %.1f s; dropped", channel.id, now - pinged)
                    channel.sink.abort()
                    dropped.append(channel)
                    self.on_drop(channel)
                    continue
            if pinged is None and now - channel.heard >= self.interval:
                channel.ping(now)
        return dropped

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sweep every ``interval / 2`` seconds on ``loop`` until :meth:`stop`."""
        def tick() -> None:
            self.sweep(loop.time())
            self._handle = loop.call_later(self.interval / 2, tick)

        self._handle = loop.call_later(self.interval / 2, tick)

    def stop(self) -> None:
        """Stop sweeping."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
