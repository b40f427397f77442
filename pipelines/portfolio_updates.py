"""Portfolio: position changes, conflated per account and symbol.

Setting ``portfolio_update_interval`` (seconds, default 5).
"""

from rxstream import Pipeline, PipelineContext
from rxstream import operators as rxo


def by_account_symbol(position):
    return f"{position.account}:{position.symbol}"


def build(ctx: PipelineContext):
    interval = ctx.setting("portfolio_update_interval", 5.0)
    return ctx.source("positions").pipe(
        rxo.conflate(interval, key=by_account_symbol, scheduler=ctx.scheduler),
    )


pipeline = Pipeline(
    "portfolio_updates",
    build,
    sources=("positions",),
    policy="state",
    key=by_account_symbol,
    description="positions conflated per account and symbol (portfolio_update_interval, default 5 s)",
    stale_after=None,  # positions change only with trades: quiet is normal
)
