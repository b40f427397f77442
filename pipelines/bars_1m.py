"""One-minute bars: open, high, low and close of each symbol's mid price, every minute that has ticks.

Bars cover clock-aligned minutes (``[12:00:00, 12:01:00)``) and are published
when the minute closes; the topic is lossless, so a chart that reconnects gets
the bars it missed. Each value serialises as ``{"type": "bar", "symbol",
"start", "end", "open", "high", "low", "close", "ticks"}``.
Setting ``bar_seconds`` (default 60) changes the bar length.
"""

from rxstream import Pipeline, PipelineContext
from rxstream import operators as rxo


def build(ctx: PipelineContext):
    return ctx.source("ticks").pipe(
        rxo.ohlc(ctx.setting("bar_seconds", 60.0), scheduler=ctx.scheduler),
    )


pipeline = Pipeline(
    "bars_1m",
    build,
    sources=("ticks",),
    description="one-minute OHLC bars of mid prices per symbol (lossless)",
)
