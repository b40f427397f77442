"""One client connection's state, and what it writes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from . import messages as m
from .codec import encode_frame
from .history import LiveBars

__all__ = ["Session", "Writer"]


class Writer(Protocol):
    """The side of a connection a session writes to (an ``asyncio.StreamWriter``)."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...


@dataclass(eq=False)
class Session:
    """One client connection's state."""

    writer: Writer
    client_id: int | None = None
    ready: bool = False
    version: int = m.SERVER_VERSION
    market_data: dict[int, str] = field(default_factory=dict)
    """reqId → symbol of each market data subscription."""
    positions: bool = False
    account_updates: str | None = None
    live_bars: dict[int, tuple[str, LiveBars]] = field(default_factory=dict)
    """reqId → (symbol, bars) of each ``keepUpToDate`` historical request."""

    def send(self, *messages: list[Any]) -> None:
        """Frame and write ``messages`` unless the connection is closing."""
        if not self.writer.is_closing():
            self.writer.write(b"".join(encode_frame(msg) for msg in messages))
