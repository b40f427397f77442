"""The contracts the simulator knows, and how a client's contract fields resolve to one.

>>> book = ContractBook(["EURUSD"])
>>> book.contract("AAPL").con_id
265598
>>> book.resolve(ContractFields(0, "EUR", "CASH", "", "0.0", "", "", "IDEALPRO", "", "USD", "", "")).symbol
'EURUSD'
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError
from ..ibkr.symbols import ContractSpec, parse_symbol, symbol_for, synthetic_con_id
from .requests import ContractFields

__all__ = ["ContractBook"]


class ContractBook:
    """Contracts by rxstream symbol; a symbol is added the first time it is named."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self._contracts: dict[str, ContractSpec] = {}
        for symbol in symbols:
            self.contract(symbol)

    def contract(self, symbol: str) -> ContractSpec:
        """The contract for ``symbol`` (added if new, with IB's conId if known, else a stable made-up one)."""
        spec = parse_symbol(symbol)
        known = self._contracts.get(spec.symbol)
        if known is None:
            known = spec if spec.con_id else spec._replace(con_id=synthetic_con_id(spec.symbol))
            self._contracts[spec.symbol] = known
        return known

    def resolve(self, c: ContractFields) -> ContractSpec | None:
        """The known contract a client means: by conId if given, else by symbol, secType and currency
        (or local symbol); ``None`` when there is none (TWS answers error 200)."""
        if c.con_id:
            for spec in self._contracts.values():
                if spec.con_id == c.con_id:
                    return spec
            return None
        if c.sec_type not in ("CASH", "STK"):
            return None
        name = symbol_for(c.sec_type, c.symbol, c.currency) if c.symbol else c.local_symbol.replace(".", "")
        try:
            spec = self.contract(name)
        except ConfigError:
            return None
        return spec if spec.sec_type == c.sec_type else None
