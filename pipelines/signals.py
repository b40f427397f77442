"""Signals: what the strategy evaluators say, HOLDs dropped, each with its confidence.

Setting ``signal_min_confidence`` (0..1, default 0) drops weaker signals too.
Every signal that passes is delivered (lossless: a reconnecting client gets
the ones it missed).
"""

from rxstream import Pipeline, PipelineContext
from rxstream import operators as rxo


def build(ctx: PipelineContext):
    return ctx.source("signals").pipe(
        rxo.drop_hold(),
        rxo.min_confidence(ctx.setting("signal_min_confidence", 0.0)),
    )


pipeline = Pipeline(
    "signals",
    build,
    sources=("signals",),
    description="evaluator signals without HOLD, with confidence",
    stale_after=None,  # an evaluator may see no crossover for hours
)
