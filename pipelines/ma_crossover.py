"""An example strategy evaluator: a moving-average crossover on each symbol's mid price.

It reads ``ticks`` and *feeds* the ``signals`` source (it publishes no topic of
its own), so the ``signals`` pipeline filters and publishes what it says,
exactly as it would for signals from any other evaluator.

* a fresh cross of the fast average over the slow one is noise until proven:
  HOLD;
* once the gap on the new side reaches ``min_edge_bp`` basis points the cross
  is confirmed: BUY (fast above) or SELL (fast below);
* confidence is the gap measured against the cost of trading it:
  ``gap / (gap + bid-ask spread)``, both in basis points.

Settings: ``ma_fast`` (ticks, default 20), ``ma_slow`` (default 100),
``ma_min_edge_bp`` (default 0.3).
"""

from collections import deque

from reactivex import operators as ops

from rxstream import Pipeline, PipelineContext, Signal, Tick
from rxstream import operators as rxo
from rxstream.events import Action


class Crossover:
    """Fast and slow simple moving averages of one symbol, and which side of the slow the fast is on."""

    def __init__(self, fast: int, slow: int, min_edge_bp: float) -> None:
        self.fast: deque[float] = deque(maxlen=fast)
        self.slow: deque[float] = deque(maxlen=slow)
        self.window = slow
        self.min_edge_bp = min_edge_bp
        self.side: bool | None = None  # fast above slow?
        self.confirmed: bool | None = None  # the side of the last BUY/SELL

    def update(self, tick: Tick) -> Signal | None:
        """Feed one tick; a Signal when the averages cross or a cross is confirmed, else None."""
        mid = tick.mid
        if mid is None:
            return None
        self.fast.append(mid)
        self.slow.append(mid)
        if len(self.slow) < self.window:
            return None
        fast = sum(self.fast) / len(self.fast)
        slow = sum(self.slow) / len(self.slow)
        side = fast > slow
        edge_bp = abs(fast - slow) / slow * 10_000
        if self.side is None:
            self.side = self.confirmed = side
            return None
        if side != self.side:  # a fresh cross: too small to act on yet
            self.side = side
            return self._signal(tick, "HOLD", edge_bp, "crossed, not yet confirmed")
        if side != self.confirmed and edge_bp >= self.min_edge_bp:
            self.confirmed = side
            return self._signal(tick, "BUY" if side else "SELL", edge_bp, "cross confirmed")
        return None

    def _signal(self, tick: Tick, action: Action, edge_bp: float, what: str) -> Signal:
        side = "above" if self.side else "below"
        return Signal(
            strategy="ma_crossover",
            symbol=tick.symbol,
            action=action,
            confidence=round(edge_bp / (edge_bp + _spread_bp(tick)), 4),
            time=tick.time,
            reason=f"{what}: SMA{self.fast.maxlen} {side} SMA{self.slow.maxlen} by {edge_bp:.2f} bp",
        )


def _spread_bp(tick: Tick) -> float:
    if tick.bid is None or tick.ask is None or tick.mid is None:
        return 1.0
    return max((tick.ask - tick.bid) / tick.mid * 10_000, 0.01)


def build(ctx: PipelineContext):
    fast = ctx.setting("ma_fast", 20)
    slow = ctx.setting("ma_slow", 100)
    min_edge = ctx.setting("ma_min_edge_bp", 0.3)
    books: dict[str, Crossover] = {}

    def evaluate(tick: Tick) -> Signal | None:
        book = books.get(tick.symbol)
        if book is None:
            book = books[tick.symbol] = Crossover(fast, slow, min_edge)
        return book.update(tick)

    return ctx.source("ticks").pipe(
        rxo.safe_map(evaluate, health=ctx.health, stream="ma_crossover"),
        ops.filter(lambda signal: signal is not None),
    )


pipeline = Pipeline(
    "ma_crossover",
    build,
    sources=("ticks",),
    publish=False,
    feeds="signals",
    description="example evaluator: SMA20/SMA100 crossover on mid prices, feeds `signals`",
)
