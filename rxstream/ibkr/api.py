"""The broker library, imported in this one place: ib_insync 0.9.86.

ib_async (ib_insync's maintained fork) is not supported yet: 2.1.0 refuses
market data for unqualified contracts and its ``Ticker`` ignores constructor
prices; 3.x also turns money fields into ``Decimal``. Never install both: they
ship the same top-level ``eventkit`` package. See docs/IBKR.md.
"""

from __future__ import annotations

import ib_insync
from ib_insync import (
    IB,
    CommissionReport,
    Contract,
    Execution,
    Fill,
    Forex,
    Future,
    LimitOrder,
    MarketOrder,
    Position,
    Stock,
    Ticker,
    Trade,
)

LIBRARY = f"ib_insync {ib_insync.__version__}"
"""Which library is in use, for logs and the status of a feed."""

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
