"""Interactive Brokers as an rxstream source, over ib_insync 0.9.86 or ib_async 2.x (whichever is installed).

:class:`IBKRFeed` (in :mod:`rxstream.ibkr.source`) turns a TWS / IB Gateway
connection into the engine's ``ticks``, ``positions`` and ``fills`` hubs; it is
composed of a connection supervisor (``supervisor``), the TWS error-code table
(``errorcodes``), market data (``marketdata``), the fill gate (``fills``), its
health streams (``streams``) and an order handle (``orders``).
:mod:`rxstream.ibkr.api` is the one module that imports the broker library.
The feed is imported lazily, so that configuration and symbol parsing (and the
TWS simulator, which shares them) do not pull in the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import IBKRConfig, parse_address
from .symbols import ContractSpec, parse_symbol, parse_symbols

if TYPE_CHECKING:
    from .source import IBKRFeed

__all__ = ["ContractSpec", "IBKRConfig", "IBKRFeed", "parse_address", "parse_symbol", "parse_symbols"]


def __getattr__(name: str) -> Any:
    if name == "IBKRFeed":  # imports the broker library: only when asked for
        from .source import IBKRFeed

        return IBKRFeed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
