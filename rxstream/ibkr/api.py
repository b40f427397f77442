"""The broker library, imported in this one place: ib_insync 0.9.86.

ib_async (ib_insync's maintained fork) is not supported yet: 2.1.0 refuses
market data for unqualified contracts and its ``Ticker`` ignores constructor
prices; 3.x also turns money fields into ``Decimal``. Never install both: they
ship the same top-level ``eventkit`` package. See docs/IBKR.md.
"""

from __future__ import annotations

import ib_insync as _lib

IB = _lib.IB
CommissionReport = _lib.CommissionReport
Contract = _lib.Contract
Execution = _lib.Execution
Fill = _lib.Fill
Forex = _lib.Forex
Future = _lib.Future
LimitOrder = _lib.LimitOrder
MarketOrder = _lib.MarketOrder
Position = _lib.Position
Stock = _lib.Stock
Ticker = _lib.Ticker
Trade = _lib.Trade

LIBRARY = f"{_lib.__name__} {getattr(_lib, '__version__', '')}".strip()
"""Which library is in use, e.g. ``ib_insync 0.9.86``."""

__all__ = [
    "IB",
    "LIBRARY",
    "CommissionReport",
    "Contract",
    "Execution",
    "Fill",
    "Forex",
    "Future",
    "LimitOrder",
    "MarketOrder",
    "Position",
    "Stock",
    "Ticker",
    "Trade",
]
