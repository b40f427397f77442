"""Trade the signals: one rule that turns each BUY/SELL signal into a market order, and a feed that places them.

:class:`SignalOrders` is the rule, shared by the live demo and by
``rxstream backtest``: it keeps a target position per symbol — ``+quantity``
after a BUY, ``-quantity`` after a SELL — and orders the difference from what
it has ordered so far, so a BUY after a SELL reverses the position in one
order. :class:`SignalTrader` is the demo's paper trader, and a template for
your own execution logic: it follows a pipeline's signals and places the
rule's orders through any ``place_order(symbol, side, quantity)`` function,
e.g. :meth:`rxstream.ibkr.source.IBKRFeed.place_market_order`; their fills come
back through the broker feed as ``trade_executions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from reactivex import abc

from .errors import ConfigError, StreamError
from .events import Side, Signal

if TYPE_CHECKING:
    from .feed import FeedContext

__all__ = ["Order", "SignalOrders", "SignalTrader"]

log = logging.getLogger(__name__)


class Order(NamedTuple):
    """A market order the rule asks for."""

    symbol: str
    side: Side
    quantity: float


class SignalOrders:
    """The signal-to-order rule: hold ``+quantity`` after a BUY, ``-quantity`` after a SELL, per symbol.

    Call :meth:`order_for` with each signal and, once the order is placed,
    :meth:`placed`; an order that could not be placed is not recorded, so the
    next signal tries again.

    >>> rule = SignalOrders(quantity=10)
    >>> from datetime import datetime, UTC
    >>> buy = Signal("s", "EURUSD", "BUY", 0.9, datetime(2020, 1, 1, tzinfo=UTC))
    >>> order = rule.order_for(buy); rule.placed(order); order
    Order(symbol='EURUSD', side='BUY', quantity=10.0)
    >>> rule.order_for(buy) is None  # already long
    True
    >>> rule.order_for(buy._replace(action="SELL"))  # reverse in one order
    Order(symbol='EURUSD', side='SELL', quantity=20.0)
    """

    def __init__(self, quantity: float = 20_000, *, min_confidence: float = 0.0) -> None:
        if quantity <= 0:
            raise ConfigError("quantity", f"must be positive, got {quantity}")
        self.quantity = quantity
        self.min_confidence = min_confidence
        self.ordered: dict[str, float] = {}  # symbol -> position ordered so far (signed)

    def order_for(self, signal: Signal) -> Order | None:
        """The order that brings ``signal.symbol`` to the signal's target, or ``None`` (HOLD, weak, already there)."""
        if signal.action == "HOLD" or signal.confidence < self.min_confidence:
            return None
        target = self.quantity if signal.action == "BUY" else -self.quantity
        delta = target - self.ordered.get(signal.symbol, 0.0)
        if not delta:
            return None
        return Order(signal.symbol, "BUY" if delta > 0 else "SELL", abs(delta))

    def placed(self, order: Order) -> None:
        """Record that ``order`` was placed."""
        signed = order.quantity if order.side == "BUY" else -order.quantity
        self.ordered[order.symbol] = self.ordered.get(order.symbol, 0.0) + signed


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
        self.rule = SignalOrders(quantity, min_confidence=min_confidence)
        self._place_order = place_order
        self.quantity = quantity
        self.pipeline = pipeline
        self.min_confidence = min_confidence
        self.orders: list[tuple[str, str, float, Any]] = []
        self.failures = 0
        self._subscription: abc.DisposableBase | None = None

    async def start(self, ctx: FeedContext) -> None:
        """Follow the pipeline's output."""
        if self.pipeline not in ctx.outputs:
            raise StreamError(self.name, f"there is no pipeline {self.pipeline!r} to trade")
        self._health = ctx.health
        self._health.register(self.name, stale_after=None)  # orders follow signals, which may be quiet for hours
        self._subscription = ctx.outputs[self.pipeline].subscribe(self.on_signal)

    async def stop(self) -> None:
        """Place no more orders."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None

    def on_signal(self, signal: Signal) -> None:
        """Place the order the rule asks for (see :class:`SignalOrders`)."""
        order = self.rule.order_for(signal)
        if order is None:
            return
        symbol, side, quantity = order
        try:
            order_id = self._place_order(symbol, side, quantity)
        except Exception as error:
            self.failures += 1
            log.warning("autotrade: %s %s %s not placed: %s", side, quantity, symbol, error)
            self._health.record_error(self.name, error)  # type: ignore[union-attr]
            return
        self.rule.placed(order)
        self.orders.append((symbol, side, quantity, order_id))
        self._health.record_update(self.name)  # type: ignore[union-attr]
        log.info("autotrade: %s %s %s (order %s) on %s", side, quantity, symbol, order_id, signal.reason)
