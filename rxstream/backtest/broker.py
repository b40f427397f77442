"""A paper broker for replays: market orders filled at the replayed quote, positions and P&L per symbol.

Buys fill at the ask, sells at the bid, of the symbol's latest quote. A
position's average cost includes the commission paid to open it (as brokers
report it), so at any moment ``realised + unrealised == cash + quantity × mark``
where ``mark`` is the price the position could be closed at (the bid for a
long, the ask for a short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import ConfigError
from ..events import Fill, Side, Tick

__all__ = ["Commission", "PaperBroker", "Position"]

_COMMISSION = re.compile(r"^\s*(?:(?P<bp>\d+(?:\.\d+)?)\s*bp)?\s*\+?\s*(?P<fixed>\d+(?:\.\d+)?)?\s*$")


@dataclass(frozen=True, slots=True)
class Commission:
    """What a fill costs: ``fixed`` per fill plus ``bp`` basis points of its value."""

    fixed: float = 0.0
    bp: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Commission:
        """``"2"`` (2 per fill), ``"0.2bp"`` (of the traded value) or ``"0.2bp+2"``."""
        match = _COMMISSION.match(text)
        if not text.strip() or match is None or not (match["bp"] or match["fixed"]):
            raise ConfigError("commission", f"expected N (per fill), Nbp (of the value) or Nbp+N, got {text!r}")
        return cls(float(match["fixed"] or 0.0), float(match["bp"] or 0.0))

    def of(self, quantity: float, price: float) -> float:
        """The commission of one fill."""
        return self.fixed + quantity * price * self.bp / 10_000

    def __str__(self) -> str:
        parts = [f"{self.bp:g}bp"] if self.bp else []
        if self.fixed or not parts:
            parts.append(f"{self.fixed:g}")
        return "+".join(parts)


class Position:
    """One symbol's position (signed quantity), average cost, cash flow and closed trades."""

    __slots__ = ("avg_cost", "cash", "commission", "losses", "quantity", "realised", "trades", "wins")

    def __init__(self) -> None:
        self.quantity = 0.0
        self.avg_cost = 0.0  # per unit, including the commission paid to open
        self.cash = 0.0  # sells minus buys minus commissions
        self.realised = 0.0
        self.commission = 0.0
        self.trades = self.wins = self.losses = 0

    def apply(self, side: Side, quantity: float, price: float, commission: float) -> None:
        """Book a fill: close what it closes (one trade), open the rest."""
        sign = 1.0 if side == "BUY" else -1.0
        self.cash -= sign * quantity * price + commission
        self.commission += commission
        closing = min(quantity, abs(self.quantity)) if self.quantity * sign < 0 else 0.0
        if closing:
            held = 1.0 if self.quantity > 0 else -1.0
            pnl = (price - self.avg_cost) * closing * held - commission * closing / quantity
            self.realised += pnl
            self.trades += 1
            if pnl > 0:
                self.wins += 1
            else:
                self.losses += 1
            self.quantity += sign * closing
            if not self.quantity:
                self.avg_cost = 0.0
        opening = quantity - closing
        if opening:
            unit = price + sign * commission / quantity  # a short's proceeds are cut by its commission
            total = self.quantity + sign * opening
            self.avg_cost = (self.avg_cost * abs(self.quantity) + unit * opening) / abs(total)
            self.quantity = total

    def mark(self, tick: Tick) -> float | None:
        """The price the position closes at now: the bid for a long, the ask for a short."""
        return tick.bid if self.quantity > 0 else tick.ask

    def unrealised(self, mark: float | None) -> float:
        """Open P&L at ``mark``."""
        if not self.quantity or mark is None:
            return 0.0
        return self.quantity * (mark - self.avg_cost)


class PaperBroker:
    """Fills market orders at the latest quote; feed it every tick *before* the strategies see it.

    Attributes:
        fills: every fill, in order (exec ids ``BT-000001``...).
        positions: by symbol.
        quotes: the latest two-sided quote per symbol.
    """

    def __init__(self, commission: Commission | None = None, *, account: str = "BACKTEST") -> None:
        self.commission = commission or Commission()
        self.account = account
        self.fills: list[Fill] = []
        self.positions: dict[str, Position] = {}
        self.quotes: dict[str, Tick] = {}
        self.open_positions = 0  # how many symbols have a position open
        self._equity: dict[str, float] = {}  # symbol -> cash + quantity × mark

    def on_tick(self, tick: Tick) -> None:
        """Remember a two-sided quote (one-sided ones cannot fill both sides) and re-mark its symbol."""
        bid, ask = tick.bid, tick.ask
        if bid is None or ask is None:
            return
        symbol = tick.symbol
        self.quotes[symbol] = tick
        position = self.positions.get(symbol)
        if position is not None:
            held = position.quantity
            if held:  # (a flat position's equity is its cash: set at its last fill)
                self._equity[symbol] = position.cash + held * (bid if held > 0 else ask)

    def market(self, symbol: str, side: Side, quantity: float, time: datetime) -> Fill | None:
        """Fill a market order at the quote (ask for a buy, bid for a sell); ``None`` without a quote yet."""
        quote = self.quotes.get(symbol)
        if quote is None:
            return None
        price = quote.ask if side == "BUY" else quote.bid
        assert price is not None
        commission = round(self.commission.of(quantity, price), 10)
        number = len(self.fills) + 1
        fill = Fill(f"BT-{number:06d}", number, self.account, symbol, side, quantity, price, commission, time)
        self.fills.append(fill)
        position = self.positions.setdefault(symbol, Position())
        was_open = bool(position.quantity)
        position.apply(side, quantity, price, commission)
        self.open_positions += bool(position.quantity) - was_open
        self._mark(symbol, position)
        return fill

    def flatten(self, time: datetime) -> list[Fill]:
        """Close every open position at its latest quote."""
        closing = []
        for symbol, position in self.positions.items():
            if position.quantity:
                side: Side = "SELL" if position.quantity > 0 else "BUY"
                fill = self.market(symbol, side, abs(position.quantity), time)
                if fill is not None:
                    closing.append(fill)
        return closing

    def equity(self) -> float:
        """Realised plus unrealised P&L over every symbol (in each symbol's quote currency, added as is)."""
        return sum(self._equity.values())

    def _mark(self, symbol: str, position: Position) -> None:
        quote = self.quotes.get(symbol)
        mark = position.mark(quote) if quote is not None and position.quantity else 0.0
        self._equity[symbol] = position.cash + position.quantity * (mark or 0.0)
