"""Orders through the feed's connection: the typed handle a trader (``rxstream demo``'s) is given.

:class:`MarketOrders` places market orders for the feed's configured symbols;
their fills come back like any other: on the ``fills`` hub, once, with their
commission, and to the order-filled callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..errors import OrderError, SourceConnectionError
from .api import IB, Contract, MarketOrder
from .config import IBKRConfig

__all__ = ["MarketOrders", "OrderPlacer"]


class OrderPlacer(Protocol):
    """Anything that places a market order and returns its order id (what a trader needs)."""

    def place_market_order(self, symbol: str, side: str, quantity: float) -> int:
        """Send a market order; returns its order id."""
        ...


class MarketOrders:
    """Market orders on ``ib`` for the symbols ``contract`` knows.

    Args:
        ib: the broker library's client.
        contract: symbol → contract (qualified once connected), ``None`` for a symbol not configured.
        config: the feed's configuration (for the address in errors).
    """

    def __init__(self, ib: IB, contract: Callable[[str], Contract | None], config: IBKRConfig) -> None:
        self._ib = ib
        self._contract = contract
        self._config = config

    def __repr__(self) -> str:
        return f"MarketOrders({self._config.address})"

    def place_market_order(self, symbol: str, side: str, quantity: float) -> int:
        """Send a market order for a configured symbol; returns its order id.

        Raises:
            OrderError: ``symbol`` is not configured, ``side`` is not BUY or SELL, or
                ``quantity`` is not positive.
            SourceConnectionError: the feed is not connected.
        """
        contract = self._contract(symbol.upper())
        if contract is None:
            raise OrderError(f"{symbol!r} is not one of the feed's symbols ({', '.join(self._config.symbols)})")
        if side not in ("BUY", "SELL") or not quantity > 0:
            raise OrderError(f"expected side BUY or SELL and a positive quantity, got {side!r} {quantity!r}")
        if not self._ib.isConnected():
            raise SourceConnectionError(self._config.host, self._config.port, "not connected: order not sent")
        trade = self._ib.placeOrder(contract, MarketOrder(side, quantity))
        return int(trade.order.orderId)
