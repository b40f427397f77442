"""Validation of client requests: every field checked to a type and a range the server can represent.

Private to :mod:`rxstream.gateway.protocol`; a bad field raises :class:`Invalid` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .codes import ErrorCode

__all__ = ["MAX_RATE_RANGE", "MAX_SEQ", "REWIND_MAX_COUNT", "REWIND_MAX_SECONDS", "Invalid", "Rewind",
           "max_rate", "request_id", "rewind", "since", "string_list"]

MAX_SEQ = 2**53
"""Sequence numbers and ids are integers JavaScript can hold exactly."""
MAX_RATE_RANGE = (0.001, 1000.0)
"""``max_rate`` in updates per second per key: from one per 1000 s to 1000 per second."""
REWIND_MAX_COUNT = 100_000
REWIND_MAX_SECONDS = 86_400.0


class Invalid(Exception):
    """A request field is wrong: ``code``, ``message`` and extra fields of the ``error`` reply."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True, slots=True)
class Rewind:
    """``rewind`` of a subscribe: the last ``count`` messages, or those of the last ``seconds``."""

    count: int | None = None
    seconds: float | None = None


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def request_id(msg: Mapping[str, Any]) -> str | int | None:
    """The request's ``id`` when it is one the reply can echo (an exact integer or a short string)."""
    value = msg.get("id")
    if type(value) is int and -MAX_SEQ <= value <= MAX_SEQ:
        return value
    if type(value) is str and len(value) <= 128:
        return value
    return None


def string_list(msg: Mapping[str, Any], name: str, limit: int, *, required: bool) -> list[str] | None:
    """A non-empty list of at most ``limit`` distinct non-empty strings (order kept), or None if absent."""
    value = msg.get(name)
    if value is None:
        if required:
            raise Invalid(ErrorCode.INVALID_FIELD, f"{name!r} is required: a list of strings", field=name)
        return None
    if type(value) is not list or not value:
        raise Invalid(ErrorCode.INVALID_FIELD, f"{name!r} must be a non-empty list of strings", field=name)
    if len(value) > limit:
        raise Invalid(ErrorCode.INVALID_FIELD, f"{name!r} has {len(value)} entries, at most {limit}", field=name)
    for item in value:
        if type(item) is not str or not item or len(item) > 200:
            raise Invalid(
                ErrorCode.INVALID_FIELD, f"{name!r} entries must be non-empty strings, got {item!r:.60}", field=name
            )
    return list(dict.fromkeys(value))


def max_rate(msg: Mapping[str, Any]) -> float | None:
    """``max_rate``: a number in :data:`MAX_RATE_RANGE`, or None."""
    value = msg.get("max_rate")
    if value is None:
        return None
    low, high = MAX_RATE_RANGE
    if not _number(value) or not low <= value <= high:
        raise Invalid(
            ErrorCode.INVALID_FIELD, f"'max_rate' must be a number in [{low:g}, {high:g}], got {value!r:.60}",
            field="max_rate",
        )
    return float(value)


def since(msg: Mapping[str, Any], epoch: str | None) -> dict[str, int]:
    """``since``: ``{topic: last seq}`` with seqs in [0, 2**53]; needs an ``epoch``."""
    raw = msg.get("since")
    if raw is None:
        return {}
    if type(raw) is not dict:
        raise Invalid(ErrorCode.INVALID_FIELD, "'since' must be an object {topic: last_seq}", field="since")
    out: dict[str, int] = {}
    for topic, seq in raw.items():
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            raise Invalid(
                ErrorCode.INVALID_FIELD, f"'since' of {topic!r:.60} must be an integer in [0, 2**53], got {seq!r:.60}",
                field="since",
            )
        out[topic] = seq
    if out and epoch is None:
        raise Invalid(ErrorCode.INVALID_FIELD, "'since' needs the 'epoch' it was counted in", field="epoch")
    return out


def rewind(msg: Mapping[str, Any]) -> Rewind | None:
    """``rewind``: ``{"count": N}`` (1..100000) or ``{"seconds": S}`` (0 < S <= 86400), or None."""
    raw = msg.get("rewind")
    if raw is None:
        return None
    if type(raw) is not dict or len(raw) != 1:
        raise Invalid(ErrorCode.INVALID_FIELD, "'rewind' must be {\"count\": N} or {\"seconds\": S}", field="rewind")
    count, seconds = raw.get("count"), raw.get("seconds")
    if count is not None:
        if type(count) is not int or not 1 <= count <= REWIND_MAX_COUNT:
            raise Invalid(ErrorCode.INVALID_FIELD, f"'rewind.count' must be an integer in [1, {REWIND_MAX_COUNT}],"
                          f" got {count!r:.60}", field="rewind")
        return Rewind(count=count)
    if seconds is not None:
        if not _number(seconds) or not 0 < seconds <= REWIND_MAX_SECONDS:
            raise Invalid(ErrorCode.INVALID_FIELD, f"'rewind.seconds' must be a number in (0, {REWIND_MAX_SECONDS:g}],"
                          f" got {seconds!r:.60}", field="rewind")
        return Rewind(seconds=float(seconds))
    raise Invalid(ErrorCode.INVALID_FIELD, "'rewind' must be {\"count\": N} or {\"seconds\": S}", field="rewind")
