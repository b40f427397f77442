"""Prices: every tick, conflated per symbol to the latest at most once per interval.

Setting ``price_update_interval`` (seconds, default 3). A dashboard gets a
symbol's first tick at once, then its latest price every interval while it
moves; the last price is never lost.
"""

from operator import attrgetter

from rxstream import Pipeline, PipelineContext
from rxstream import operators as rxo

by_symbol = attrgetter("symbol")  # the conflation key: one latest price per symbol


def build(ctx: PipelineContext):
    interval = ctx.setting("price_update_interval", 3.0)
    return ctx.source("ticks").pipe(
        rxo.conflate(interval, key=by_symbol, scheduler=ctx.scheduler),
    )


pipeline = Pipeline(
    "price_updates",
    build,
    sources=("ticks",),
    policy="state",
    key=by_symbol,
    description="ticks conflated per symbol (price_update_interval, default 3 s)",
)
