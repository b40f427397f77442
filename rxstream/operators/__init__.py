"""Pipeable operators for trading streams, each tested in virtual time.

======================  ===================================================
``conflate``            per key: first at once, then the latest per interval
``retry_with_backoff``  resubscribe after growing, jittered, capped delays
``monitor``             health taps that never kill the stream
``safe_map``            map; a raising value is skipped and recorded
``safe_filter``         filter; a raising value is skipped and recorded
``dedupe``              drop repeats by key in bounded memory
``drop_hold``           signals: pass BUY/SELL only
``min_confidence``      signals: pass confidence >= threshold
``only_symbols``        events of the given symbols only
``ohlc``                time bars per key: open, high, low, close, ticks
``rolling``             per-key window by count or time: mean, VWAP, min, max
======================  ===================================================

Time-based operators take ``scheduler=`` (or use the one given to
``subscribe``) and never fall back to a thread timer.
"""

from ._conflate import conflate
from ._dedupe import dedupe
from ._filters import drop_hold, min_confidence, only_symbols
from ._isolate import safe_filter, safe_map
from ._monitor import monitor
from ._ohlc import ohlc
from ._retry import Backoff, retry_with_backoff
from ._rolling import Reducer, RollingValue, rolling

__all__ = [
    "Backoff",
    "Reducer",
    "RollingValue",
    "conflate",
    "dedupe",
    "drop_hold",
    "min_confidence",
    "monitor",
    "ohlc",
    "only_symbols",
    "retry_with_backoff",
    "rolling",
    "safe_filter",
    "safe_map",
]
