"""The ``data`` envelope: the one wire form of a published message, below the bus and the gateway.

A bus is handed a :data:`DataEncoder` and calls it once per published message;
every client then receives the same bytes. :func:`encode_data` is the encoder
of the WebSocket protocol (``rxstream.gateway.protocol`` re-exports it, beside
the other server messages it builds); it lives here, below both, so a bus can
default to it without importing the gateway.

>>> from datetime import datetime, UTC
>>> encode_data("signals", 7, "e1", datetime(2024, 1, 1, tzinfo=UTC), {"x": 1})
b'{"type":"data","topic":"signals","seq":7,"epoch":"e1","time":"2024-01-01T00:00:00Z","data":{"x":1}}'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .events import dumps

__all__ = ["DataEncoder", "encode_data"]

DataEncoder = Callable[[str, int, str, datetime, Any], bytes]
"""``(topic, seq, epoch, time, body) -> bytes``: a finished ``data`` message."""


def encode_data(topic: str, seq: int, epoch: str, time: datetime, body: Any) -> bytes:
    """The ``{"type": "data", ...}`` message for one published value (``body`` JSON-ready)."""
    return dumps({"type": "data", "topic": topic, "seq": seq, "epoch": epoch, "time": time, "data": body})
