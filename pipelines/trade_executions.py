"""Trades: every fill once, deduplicated by exec id, never conflated.

Brokers resend past executions after a reconnect; ``dedupe`` keeps each one
from reaching a blotter twice.
"""

from operator import attrgetter

from rxstream import Pipeline, PipelineContext
from rxstream import operators as rxo


def build(ctx: PipelineContext):
    return ctx.source("fills").pipe(
        rxo.dedupe(attrgetter("exec_id"), capacity=ctx.setting("fill_dedupe_capacity", 100_000)),
    )


pipeline = Pipeline(
    "trade_executions",
    build,
    sources=("fills",),
    description="fills deduplicated by exec id",
    stale_after=None,  # no fill for hours is normal
)
