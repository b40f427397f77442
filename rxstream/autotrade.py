"""Trade the signals: a feed that turns each BUY/SELL signal into a market order.

The demo's paper trader, and a template for your own execution logic. It keeps
a target position per symbol — ``+quantity`` after a BUY, ``-quantity`` after
a SELL — and orders the difference from what it has ordered so far, so a BUY
after a SELL reverses the position in one order. Orders go through any
``place_order(symbol, side, quantity)`` function, e.g.
:meth:`rxstream.ibkr.source.IBKRFeed.place_market_order`; their fills come back
through the broker feed as ``trade_executions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reactivex import abc

from .errors import ArgumentError, StreamError
from .events import Signal

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["SignalTrader"]

log = logging.getLogger(__name__)


class SignalTrader:
    """A :class:`~rxstream.engine.Feed` that places orders for the ``signals`` pipeline's output.

    Attributes:
        orders: ``(symbol, side, quantity, order_id)`` of every order placed.
        failures: how many orders could not be placed (logged, and errors of the ``autotrade`` stream).
    """

    name = "autotrade"

    def __init__(
        self,
        place_order: Callable[[str, str, float], Any],
        *,
        quantity: float = 20_000,
        pipeline: str = "signals",
        min_confidence: float = 0.0,
    ) -> None:
        if quantity <= 0:
            raise ArgumentError("SignalTrader", f"quantity must be positive, got {quantity}")
        self._place_order = place_order
        self.quantity = quantity
        self.pipeline = pipeline
        self.min_confidence = min_confidence
        self.ordered: dict[str, float] = {}
        self.orders: list[tuple[str, str, float, Any]] = []
        self.failures = 0
        self._subscription: abc.DisposableBase | None = None

    async def start(self, engine: Engine) -> None:
        """Follow the pipeline's output."""
        if self.pipeline not in engine.outputs:
            raise StreamError(self.name, f"there is no pipeline {self.pipeline!r} to trade")
        self._health = engine.health
        assert self._health is not None
        self._health.register(self.name, stale_after=None)  # orders follow signals, which may be quiet for hours
        self._subscription = engine.outputs[self.pipeline].subscribe(self.on_signal)

    async def stop(self) -> None:
        """Place no more orders."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None

    def on_signal(self, signal: Signal) -> None:
        """Order the difference between the signal's target position and what was ordered."""
        if signal.action == "HOLD" or signal.confidence < self.min_confidence:
            return
        target = self.quantity if signal.action == "BUY" else -self.quantity
        delta = target - self.ordered.get(signal.symbol, 0.0)
        if not delta:
            return
        side = "BUY" if delta > 0 else "SELL"
        try:
            order_id = self._place_order(signal.symbol, side, abs(delta))
        except Exception as error:
            self.failures += 1
            log.warning("autotrade: %s %s %s not placed: %s", side, abs(delta), signal.symbol, error)
            self._health.record_error(self.name, error)  # type: ignore[union-attr]
            return
        self.ordered[signal.symbol] = target
        self.orders.append((signal.symbol, side, abs(delta), order_id))
        self._health.record_update(self.name)  # type: ignore[union-attr]
        log.info("autotrade: %s %s %s (order %s) on %s", side, abs(delta), signal.symbol, order_id, signal.reason)
