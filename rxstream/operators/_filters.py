"""The filters the standard pipelines use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from reactivex import Observable
from reactivex import operators as ops

from ..errors import ArgumentError
from ..events import Signal

__all__ = ["drop_hold", "min_confidence", "only_symbols"]

_T = TypeVar("_T")


def drop_hold() -> Callable[[Observable[Signal]], Observable[Signal]]:
    """Pass BUY and SELL signals; drop HOLD.

    .. code-block:: text

        --BUY--HOLD--SELL--|
        [ drop_hold() ]
        --BUY--------SELL--|
    """
    return ops.filter(lambda s: s.action != "HOLD")


def min_confidence(threshold: float) -> Callable[[Observable[Signal]], Observable[Signal]]:
    """Pass signals whose confidence is at least ``threshold`` (0..1).

    .. code-block:: text

        --0.9--0.2--0.6--|
        [ min_confidence(0.5) ]
        --0.9-------0.6--|
    """
    if not 0.0 <= threshold <= 1.0:
        raise ArgumentError("min_confidence", f"threshold must be within 0..1, got {threshold!r}")
    return ops.filter(lambda s: s.confidence >= threshold)


def only_symbols(symbols: Iterable[str] | None) -> Callable[[Observable[Any]], Observable[Any]]:
    """Pass events whose ``symbol`` is in ``symbols``; ``None`` passes everything.

    .. code-block:: text

        --EURUSD--AAPL--USDJPY--|
        [ only_symbols({"EURUSD", "USDJPY"}) ]
        --EURUSD--------USDJPY--|
    """
    if symbols is None:
        return _identity
    wanted = frozenset(symbols)
    return ops.filter(lambda e: e.symbol in wanted)


def _identity(source: Observable[Any]) -> Observable[Any]:
    return source
