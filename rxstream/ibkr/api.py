"""The broker library, imported in this one place: ib_insync 0.9.86 or ib_async 2.x.

Whichever is installed is used: ``pip install rxstream[ib_insync]`` (what
``make`` installs) or ``pip install rxstream[ib_async]``, in separate
environments: both ship a top-level ``eventkit`` package and overwrite each
other's. Should both be importable anyway, ib_insync is taken.

The two speak the same API for what rxstream uses, with two differences the
feed is written for: ib_async requests market data only for a qualified
contract (one with a ``conId``: it keys tickers by the contract's hash), and
its ``Ticker`` resets prices given to its constructor (set them afterwards).
ib_async 3.x (``Decimal`` money fields, ``commission`` renamed) is not supported.

>>> NAME in ("ib_insync", "ib_async")
True
"""

from __future__ import annotations

import asyncio

from ..errors import BrokerLibraryMissing


def _give_eventkit_a_loop() -> None:
    """``eventkit`` (under both libraries) reads the current event loop when it is imported, which raises
    once ``asyncio.run()`` has ended in this thread; give it a loop of its own then, as a fresh thread has."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


_give_eventkit_a_loop()

try:
    import ib_insync as _library
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
    from ib_insync.decoder import Decoder
except ImportError:  # pragma: no cover - the ib_async environment takes this branch
    try:
        import ib_async as _library  # type: ignore[no-redef]
        from ib_async import (  # type: ignore[no-redef,assignment]
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
        from ib_async.decoder import Decoder  # type: ignore[no-redef,assignment]
    except ImportError as missing:
        raise BrokerLibraryMissing(
            "the IBKR feed needs ib_insync or ib_async: pip install 'rxstream[ib_insync]' "
            "or 'rxstream[ib_async]' (one of them, never both)"
        ) from missing

NAME: str = _library.__name__
"""``"ib_insync"`` or ``"ib_async"``: the library in use."""

VERSION: str = _library.__version__
"""Its version, e.g. ``"0.9.86"``."""

LIBRARY = f"{NAME} {VERSION}"
"""Which library is in use, for logs and the status of a feed."""

__all__ = [
    "IB",
    "LIBRARY",
    "NAME",
    "VERSION",
    "CommissionReport",
    "Contract",
    "Decoder",
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
