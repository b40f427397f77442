"""The server's messages, each built in one function (re-exported by :mod:`rxstream.gateway.protocol`).

``data`` comes from :func:`rxstream.wire.encode_data`, which the bus is handed; ``snapshot`` splices
finished ``data`` messages in without encoding them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..events import dumps
from .codes import ErrorCode

__all__ = ["encode", "error_message", "pong", "snapshot", "subscribed"]


def encode(message: Mapping[str, Any]) -> bytes:
    """The JSON bytes of a server message."""
    return dumps(message)


def error_message(code: ErrorCode, message: str, *, id: str | int | None = None, **extra: Any) -> dict[str, Any]:
    """An ``error`` message (``id`` echoes the request's, when it had one)."""
    out: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if id is not None:
        out["id"] = id
    out.update(extra)
    return out


def subscribed(
    topic: str, policy: str, seq: int, epoch: str, *, symbols: frozenset[str] | None, max_rate: float | None,
    id: str | int | None = None, recovered: bool | None = None, reset: bool = False,
) -> dict[str, Any]:
    """The ``subscribed`` reply for one topic; ``recovered`` only when a resume was asked.

    ``reset`` tells the client to discard what it holds for the topic: the :func:`snapshot`
    that follows is the whole state.
    """
    out: dict[str, Any] = {
        "type": "subscribed", "topic": topic, "policy": policy, "seq": seq, "epoch": epoch,
        "symbols": sorted(symbols) if symbols is not None else None, "max_rate": max_rate, "reset": reset,
    }
    if recovered is not None:
        out["recovered"] = recovered
    if id is not None:
        out["id"] = id
    return out


def snapshot(topic: str, seq: int, epoch: str, items: Iterable[bytes]) -> bytes:
    """The ``snapshot`` message: ``items`` are finished ``data`` messages, spliced in without re-encoding."""
    head = dumps({"type": "snapshot", "topic": topic, "seq": seq, "epoch": epoch})
    return head[:-1] + b',"items":[' + b",".join(items) + b"]}"


def pong(rid: str | int | None) -> dict[str, Any]:
    """The ``pong`` reply to a ``ping``."""
    return {"type": "pong"} if rid is None else {"type": "pong", "id": rid}
