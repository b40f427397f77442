"""rxstream symbols ↔ the contract fields TWS speaks; pure functions, no ib_insync.

rxstream names an instrument by one string: ``EURUSD`` (a currency pair) or
``AAPL`` (a stock). TWS needs more: a forex pair is ``symbol=EUR, secType=CASH,
currency=USD, exchange=IDEALPRO, localSymbol=EUR.USD``; a stock is
``secType=STK, exchange=SMART, currency=USD``. This module turns one into the
other and back. It is shared by the IBKR adapter (client side) and the TWS
simulator (server side), so both agree on what ``EURUSD`` means.

>>> parse_symbol("EURUSD").local_symbol
'EUR.USD'
>>> parse_symbol("aapl").exchange
'SMART'
>>> symbol_for("CASH", "EUR", "USD")
'EURUSD'
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import NamedTuple

from ..errors import ConfigError

__all__ = [
    "CURRENCIES",
    "KNOWN_CON_IDS",
    "ContractSpec",
    "parse_symbol",
    "parse_symbols",
    "symbol_for",
    "synthetic_con_id",
]

CURRENCIES = frozenset(
    "USD EUR GBP JPY CHF AUD NZD CAD SEK NOK DKK HKD SGD CNH MXN ZAR PLN CZK HUF TRY ILS KRW".split()
)
"""Currency codes that make a six-letter symbol a forex pair (IDEALPRO)."""

KNOWN_CON_IDS: dict[str, int] = {
    "EURUSD": 12087792,
    "GBPUSD": 12087797,
    "USDJPY": 15016059,
    "AUDUSD": 14433401,
    "USDCHF": 12087820,
    "AAPL": 265598,
    "MSFT": 272093,
    "SPY": 756733,
}
"""IB's real contract ids for a few common instruments (the simulator uses them)."""

_PAIR = re.compile(r"^([A-Z]{3})[./]?([A-Z]{3})$")
_STOCK = re.compile(r"^[A-Z][A-Z0-9.]{0,11}$")


class ContractSpec(NamedTuple):
    """The TWS contract fields for one rxstream symbol."""

    symbol: str
    """The rxstream symbol: ``EURUSD``, ``AAPL``."""
    sec_type: str
    ib_symbol: str
    currency: str
    exchange: str
    primary_exchange: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    con_id: int = 0

    @property
    def is_forex(self) -> bool:
        """Whether this is a currency pair."""
        return self.sec_type == "CASH"


def parse_symbol(text: str) -> ContractSpec:
    """The contract for ``text``: ``EURUSD``/``EUR.USD`` → forex, ``AAPL`` → SMART stock in USD."""
    s = text.strip().upper()
    pair = _PAIR.match(s)
    if pair and pair[1] in CURRENCIES and pair[2] in CURRENCIES:
        base, quote = pair[1], pair[2]
        name = base + quote
        local = f"{base}.{quote}"
        return ContractSpec(
            name, "CASH", base, quote, "IDEALPRO", "", local, local, KNOWN_CON_IDS.get(name, 0)
        )
    if _STOCK.match(s):
        return ContractSpec(s, "STK", s, "USD", "SMART", "NASDAQ", s, s, KNOWN_CON_IDS.get(s, 0))
    raise ConfigError("symbols", f"{text!r} is neither a currency pair (EURUSD) nor a stock ticker (AAPL)")


def parse_symbols(texts: Iterable[str] | str) -> tuple[ContractSpec, ...]:
    """Parse a symbol list (strings, or one comma-separated string); duplicates are dropped."""
    items = texts.split(",") if isinstance(texts, str) else [p for t in texts for p in t.split(",")]
    specs: dict[str, ContractSpec] = {}
    for item in items:
        if item.strip():
            spec = parse_symbol(item)
            specs.setdefault(spec.symbol, spec)
    return tuple(specs.values())


def symbol_for(sec_type: str, ib_symbol: str, currency: str) -> str:
    """The rxstream symbol of a TWS contract: ``CASH`` pairs join base and quote."""
    return ib_symbol + currency if sec_type == "CASH" else ib_symbol


def synthetic_con_id(symbol: str) -> int:
    """A stable made-up contract id for a symbol IB's id is not listed for (simulator only)."""
    return 100_000_000 + zlib.crc32(symbol.encode()) % 800_000_000
