"""Interactive Brokers as an rxstream source, over ib_insync 0.9.86 (ib_async 2.x works too).

:class:`IBKRFeed` (in :mod:`rxstream.ibkr.source`, the only module that imports
ib_insync) turns a TWS / IB Gateway connection into the engine's ``ticks``,
``positions`` and ``fills`` hubs. It is imported lazily, so that configuration
and symbol parsing (and the TWS simulator, which shares them) do not pull in
ib_insync.
"""

from __future__ import annotations

from .config import IBKRConfig, parse_address
from .symbols import ContractSpec, parse_symbol, parse_symbols

__all__ = ["ContractSpec", "IBKRConfig", "parse_address", "parse_symbol", "parse_symbols"]
