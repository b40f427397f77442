"""The simulator's broker: orders, matching, positions, average cost, cash, margin and P&L.

Pure and synchronous: no sockets, no asyncio, no wire format. The TWS shell
(:mod:`rxstream.testing.server`) turns what it returns into TWS messages.

* Market orders fill at once at the current quote: buys at the ask, sells at
  the bid (when that side is missing: the mid, the last, then the other side).
  Before any quote, the ``reference`` quote (the tick file at the simulator's
  clock), else 1.0 for forex and 100.0 for stocks.
* Limit orders fill at once when marketable, else rest until a quote makes
  them marketable (:meth:`Broker.quote` returns those fills) or they are
  cancelled.
* Positions keep an average cost: adding to a position averages the price
  in, reducing it keeps the average and realizes P&L (net of the closing
  fill's commission), crossing through zero starts over at the fill price.
* Cash (USD) moves by each fill's value and commission; margin is a fixed
  fraction of each position's value (:data:`MARGIN_RATES`).

>>> from rxstream.ibkr.symbols import parse_symbol
>>> b = Broker("DU1", positions=[])
>>> b.quote(Tick("EURUSD", datetime(2020, 1, 1, tzinfo=UTC), 1.1, 1.1002))
[]
>>> done = b.submit(Order(1, 1, 7, "DU1", parse_symbol("EURUSD"), "BUY", 10_000, "MKT"))
>>> done.execution.price, b.holding("DU1", "EURUSD").quantity
(1.1002, 10000.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ..events import Tick
from ..ibkr.symbols import ContractSpec

__all__ = [
    "DEFAULT_PRICES",
    "MARGIN_RATES",
    "Broker",
    "ExecRecord",
    "Holding",
    "Margin",
    "Order",
    "PortfolioItem",
    "Submitted",
    "default_commission",
]

DEFAULT_PRICES = {"CASH": 1.0, "STK": 100.0}
"""The price of a contract nothing was quoted for yet, by security type."""

MARGIN_RATES = {"CASH": (0.03, 0.025), "STK": (0.5, 0.25)}
"""(initial, maintenance) margin as a fraction of position value, by security type."""


def default_commission(contract: ContractSpec, quantity: float, price: float) -> float:
    """IB-like fixed pricing: 0.2 bp of value (min 2 USD) for forex, 0.005 USD/share (min 1) for stocks."""
    if contract.is_forex:
        return round(max(2.0, quantity * price * 0.00002), 2)
    return round(max(1.0, quantity * 0.005), 2)


class ExecRecord(NamedTuple):
    """One execution, as the simulator remembers it (to resend on REQ_EXECUTIONS)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    account: str
    contract: ContractSpec
    side: str
    """``BOT`` or ``SLD``."""
    shares: float
    price: float
    time: datetime
    cum_qty: float
    avg_price: float
    commission: float
    order_ref: str = ""
    realized_pnl: float = 0.0


class Order(NamedTuple):
    """An order as the broker sees it; ``echo`` is carried untouched for the caller (the wire request)."""

    order_id: int
    client_id: int
    perm_id: int
    account: str
    contract: ContractSpec
    action: str
    """``BUY`` or ``SELL``."""
    quantity: float
    order_type: str
    """``MKT`` or ``LMT``."""
    limit: float | None = None
    order_ref: str = ""
    echo: Any = None


class Submitted(NamedTuple):
    """What became of a submitted order: ``execution`` if it filled, ``rejected`` (code, text) if refused."""

    order: Order
    execution: ExecRecord | None = None
    rejected: tuple[int, str] | None = None

    @property
    def resting(self) -> bool:
        """Whether the order is working (neither filled nor rejected)."""
        return self.execution is None and self.rejected is None


@dataclass(slots=True)
class Holding:
    """One account's position in one contract."""

    contract: ContractSpec
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized: float = 0.0


class PortfolioItem(NamedTuple):
    """A holding valued at the current quote."""

    account: str
    contract: ContractSpec
    position: float
    market_price: float
    market_value: float
    avg_cost: float
    unrealized_pnl: float
    realized_pnl: float


class Margin(NamedTuple):
    """Margin requirements and equity, before or after an order (what-if)."""

    init: float
    maint: float
    equity_with_loan: float


class Broker:
    """Orders, fills and positions of the simulated accounts.

    Args:
        account: the default account.
        positions: ``(account, contract, quantity, avg_cost)`` held at start.
        cash: USD cash at start.
        commission: ``(contract, quantity, price) -> commission``.
        clock: the time stamped on executions (default: now, UTC, whole seconds).
        exec_prefix: the first part of every execution id (unique per simulator run).
        reference: the quote of a symbol nothing was pushed for yet (the simulator's tick history at its
            clock), before falling back to :data:`DEFAULT_PRICES`.
    """

    def __init__(
        self,
        account: str,
        positions: Iterable[tuple[str, ContractSpec, float, float]] = (),
        *,
        cash: float = 1_000_000.0,
        commission: Callable[[ContractSpec, float, float], float] = default_commission,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0),
        exec_prefix: str = "0000abcd",
        reference: Callable[[str], Tick | None] = lambda symbol: None,
    ) -> None:
        self.account = account
        self.cash = cash
        self.commission = commission
        self.clock = clock
        self.exec_prefix = exec_prefix
        self.reference = reference
        self._holdings: dict[tuple[str, str], Holding] = {}
        self._quotes: dict[str, Tick] = {}
        self._resting: dict[tuple[int, int], Order] = {}
        self._executions: list[ExecRecord] = []
        self._exec_seq = itertools.count(1)
        for acct, contract, quantity, avg_cost in positions:
            self._holdings[(acct, contract.symbol)] = Holding(contract, quantity, avg_cost)

    # --- reading ---------------------------------------------------------------------

    def holding(self, account: str, symbol: str) -> Holding | None:
        """The holding of ``account`` in ``symbol``, if any was ever held."""
        return self._holdings.get((account, symbol))

    def holdings(self) -> dict[tuple[str, str], Holding]:
        """``(account, symbol) → Holding``, in the order first held."""
        return dict(self._holdings)

    @property
    def executions(self) -> tuple[ExecRecord, ...]:
        """Every execution so far, oldest first."""
        return tuple(self._executions)

    @property
    def resting(self) -> tuple[Order, ...]:
        """Working limit orders, oldest first."""
        return tuple(self._resting.values())

    def last_quote(self, symbol: str) -> Tick | None:
        """The latest quote for ``symbol``."""
        return self._quotes.get(symbol)

    def price(self, contract: ContractSpec, action: str | None = None) -> float:
        """What ``action`` would fill at now (``None``: the mark, for valuing positions)."""
        q = self._quotes.get(contract.symbol) or self.reference(contract.symbol)
        if q is not None:
            side = q.ask if action == "BUY" else q.bid if action == "SELL" else q.mid
            for price in (side, q.mid, q.last, q.bid, q.ask):
                if price is not None:
                    return price
        return DEFAULT_PRICES.get(contract.sec_type, 1.0)

    def portfolio(self, account: str) -> list[PortfolioItem]:
        """Every holding of ``account`` valued at the mark (mid price)."""
        out = []
        for (acct, _), h in self._holdings.items():
            if acct == account:
                mark = self.price(h.contract)
                out.append(PortfolioItem(
                    acct, h.contract, h.quantity, mark, round(h.quantity * mark, 2), h.avg_cost,
                    round(h.quantity * (mark - h.avg_cost), 2), round(h.realized, 2),
                ))
        return out

    def margin(self, account: str, extra: tuple[ContractSpec, float] | None = None) -> Margin:
        """Margin of ``account``'s positions (plus ``extra`` = (contract, signed quantity))."""
        sizes = {h.contract: h.quantity for (acct, _), h in self._holdings.items() if acct == account}
        if extra is not None:
            sizes[extra[0]] = sizes.get(extra[0], 0.0) + extra[1]
        init = maint = 0.0
        for contract, quantity in sizes.items():
            value = abs(quantity) * self.price(contract)
            rate_init, rate_maint = MARGIN_RATES.get(contract.sec_type, (1.0, 1.0))
            init += value * rate_init
            maint += value * rate_maint
        return Margin(init, maint, self.net_liquidation(account))

    def net_liquidation(self, account: str) -> float:
        """Cash plus the market value of every position of ``account``."""
        return self.cash + sum(item.market_value for item in self.portfolio(account))

    def account_values(self, account: str) -> list[tuple[str, float | str, str]]:
        """``(tag, value, currency)`` as TWS reports them for ``account``."""
        items = self.portfolio(account)
        m = self.margin(account)
        net = self.net_liquidation(account)
        gross = sum(abs(i.market_value) for i in items)
        return [
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", round(net, 2), "USD"),
            ("TotalCashValue", round(self.cash, 2), "USD"),
            ("CashBalance", round(self.cash, 2), "USD"),
            ("EquityWithLoanValue", round(net, 2), "USD"),
            ("GrossPositionValue", round(gross, 2), "USD"),
            ("InitMarginReq", round(m.init, 2), "USD"),
            ("MaintMarginReq", round(m.maint, 2), "USD"),
            ("AvailableFunds", round(net - m.init, 2), "USD"),
            ("ExcessLiquidity", round(net - m.maint, 2), "USD"),
            ("BuyingPower", round((net - m.init) * 4, 2), "USD"),
            ("UnrealizedPnL", round(sum(i.unrealized_pnl for i in items), 2), "USD"),
            ("RealizedPnL", round(sum(i.realized_pnl for i in items), 2), "USD"),
        ]

    # --- orders ----------------------------------------------------------------------

    def quote(self, tick: Tick) -> list[tuple[Order, ExecRecord]]:
        """Take a new quote; returns the resting orders it filled, with their executions."""
        self._quotes[tick.symbol] = tick
        if not self._resting:
            return []
        filled = []
        for key, order in list(self._resting.items()):
            if order.contract.symbol == tick.symbol and self._marketable(order):
                del self._resting[key]
                filled.append((order, self._fill(order)))
        return filled

    def submit(self, order: Order) -> Submitted:
        """Accept ``order``: fill it if marketable, else keep it working."""
        if order.action not in ("BUY", "SELL") or not order.quantity > 0:
            return Submitted(order, rejected=(201, "Order rejected - reason: invalid action or quantity"))
        if order.order_type not in ("MKT", "LMT") or (order.order_type == "LMT" and order.limit is None):
            return Submitted(order, rejected=(387, f"Unsupported order type {order.order_type} (simulator)"))
        if not self._marketable(order):
            self._resting[(order.client_id, order.order_id)] = order
            return Submitted(order)
        return Submitted(order, self._fill(order))

    def cancel(self, client_id: int, order_id: int) -> Order | None:
        """Stop a working order; ``None`` if there is none with that id."""
        return self._resting.pop((client_id, order_id), None)

    def cancel_all(self) -> list[Order]:
        """Stop every working order (a global cancel)."""
        orders = list(self._resting.values())
        self._resting.clear()
        return orders

    def what_if(self, order: Order) -> tuple[Margin, Margin, float]:
        """Margin before and after ``order`` would fill, and its commission; nothing changes."""
        price = self.price(order.contract, order.action)
        commission = self.commission(order.contract, order.quantity, price)
        signed = order.quantity if order.action == "BUY" else -order.quantity
        before = self.margin(order.account)
        after = self.margin(order.account, (order.contract, signed))
        return before, after._replace(equity_with_loan=before.equity_with_loan - commission), commission

    def fill(self, order: Order, price: float | None = None) -> ExecRecord:
        """Execute ``order`` now, at ``price`` or the quote, whatever its type (a manual TWS fill)."""
        return self._fill(order, price)

    # --- fills -----------------------------------------------------------------------

    def _marketable(self, order: Order) -> bool:
        if order.order_type == "MKT":
            return True
        price = self.price(order.contract, order.action)
        assert order.limit is not None
        return price <= order.limit if order.action == "BUY" else price >= order.limit

    def _fill(self, order: Order, price: float | None = None) -> ExecRecord:
        spec = order.contract
        fill_price = price if price is not None else self.price(spec, order.action)
        commission = self.commission(spec, order.quantity, fill_price)
        realized = self._move(order.account, spec, order.action, order.quantity, fill_price, commission)
        delta = order.quantity if order.action == "BUY" else -order.quantity
        self.cash -= delta * fill_price + commission
        record = ExecRecord(
            exec_id=f"{self.exec_prefix}.{next(self._exec_seq):08x}.01.01",
            order_id=order.order_id, client_id=order.client_id, perm_id=order.perm_id, account=order.account,
            contract=spec, side="BOT" if order.action == "BUY" else "SLD", shares=order.quantity,
            price=fill_price, time=self.clock(), cum_qty=order.quantity, avg_price=fill_price,
            commission=commission, order_ref=order.order_ref, realized_pnl=round(realized, 2),
        )
        self._executions.append(record)
        return record

    def _move(
        self, account: str, spec: ContractSpec, action: str, quantity: float, price: float, commission: float
    ) -> float:
        """Apply a fill to the position; returns the P&L it realized, net of its commission (0 when it only
        opened or added: as in TWS, realized P&L comes with closing fills)."""
        h = self._holdings.setdefault((account, spec.symbol), Holding(spec))
        delta = quantity if action == "BUY" else -quantity
        old = h.quantity
        new = old + delta
        realized = 0.0
        if old and (old > 0) != (delta > 0):  # reducing (or crossing): realize the closed part
            closed = min(abs(delta), abs(old))
            realized = closed * (price - h.avg_cost) * (1 if old > 0 else -1) - commission
        if new == 0:
            h.avg_cost = 0.0
        elif old == 0 or (old > 0) != (new > 0):
            h.avg_cost = price
        elif abs(new) > abs(old):
            h.avg_cost = (old * h.avg_cost + delta * price) / new
        h.quantity = new
        h.realized += realized
        return realized
