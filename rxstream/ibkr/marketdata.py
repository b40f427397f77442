"""Market data for the feed's symbols: qualify once, subscribe, resubscribe, tickers → ticks.

Contracts are qualified (CONTRACT_DATA) before market data is first requested:
ib_async requests market data only for a contract with a ``conId``, and a
symbol TWS does not know is better reported once than retried forever. After
every reconnect, after 1101/1102 and after a 2103 → 2104 farm blip, market data
is requested again (cancel, then request): data that TWS stopped sending is
the most reported IBKR failure, and it is silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from ..events import Tick
from .api import IB, Contract, Ticker
from .contracts import symbol_of, tick_from_ticker
from .streams import FeedHealth

__all__ = ["MarketData"]

log = logging.getLogger(__name__)


class MarketData:
    """Subscribes the feed's contracts and turns ticker updates into :class:`~rxstream.events.Tick`.

    Args:
        ib: the broker library's client.
        contracts: rxstream symbol → contract.
        publish: called with each tick.
        health: the feed's health streams (ticks updates, errors, resubscriptions).
        address: ``host:port`` for log messages.

    Attributes:
        active: the contracts subscribed (those TWS knows, once qualified).
        resubscriptions: how many times market data was requested again.
    """

    def __init__(
        self,
        ib: IB,
        contracts: Mapping[str, Contract],
        *,
        publish: Callable[[Tick], None],
        health: FeedHealth,
        address: str,
    ) -> None:
        self._ib = ib
        self._contracts = dict(contracts)
        self._symbols = {id(c): s for s, c in self._contracts.items()}
        self._publish = publish
        self._health = health
        self._address = address
        self._qualified = False
        self.active: list[Contract] = list(self._contracts.values())
        self.resubscriptions = 0

    def __repr__(self) -> str:
        return f"MarketData({', '.join(self._contracts)}, resubscriptions={self.resubscriptions})"

    def contract(self, symbol: str) -> Contract | None:
        """The contract of a configured symbol (qualified once connected), or ``None``."""
        return self._contracts.get(symbol)

    async def start(self, timeout: float) -> None:
        """On a fresh connection: qualify the contracts (the first time only), then subscribe."""
        if not self._qualified:
            contracts = list(self._contracts.values())
            async with asyncio.timeout(timeout):
                qualified = await self._ib.qualifyContractsAsync(*contracts)
            known = {id(c) for c in qualified if c is not None}
            for contract in contracts:
                if id(contract) not in known:
                    symbol = symbol_of(contract)
                    log.error("IBKR %s: no contract found for %s; not subscribing", self._address, symbol)
                    self._health.ticks_error(f"no contract found for {symbol}")
            self.active = [c for c in contracts if id(c) in known]
            self._qualified = True
        self._subscribe()

    def resubscribe(self, why: str) -> None:
        """Request market data again (cancel, then request): TWS may have silently stopped sending it."""
        ib = self._ib
        for contract in self.active:
            if ib.ticker(contract) is not None:
                ib.cancelMktData(contract)
        self._subscribe()
        self.resubscriptions += 1
        self._health.ticks_resubscribed()
        log.info("IBKR %s: market data resubscribed (%s)", self._address, why)

    def on_tickers(self, tickers: Iterable[Ticker]) -> bool:
        """``pendingTickersEvent``: one tick per updated ticker of ours; whether any was published."""
        symbols = self._symbols
        publish = self._publish
        count = 0
        for ticker in tickers:
            symbol = symbols.get(id(ticker.contract))
            if symbol is not None:
                publish(tick_from_ticker(symbol, ticker))
                count += 1
        if count:
            self._health.ticks_updated()
        return count > 0

    def _subscribe(self) -> None:
        for contract in self.active:
            self._ib.reqMktData(contract, "", False, False)
