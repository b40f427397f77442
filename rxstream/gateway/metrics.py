"""Gateway metrics in the Prometheus text exposition format (version 0.0.4), hand-written.

Counters are plain dicts updated on the hot path (no locks: one event loop owns
them); gauges are read at scrape time. :meth:`GatewayMetrics.render` writes the
text; the ``/metrics`` route serves it with :data:`CONTENT_TYPE`.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["CONTENT_TYPE", "GatewayMetrics", "Histogram"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """A cumulative histogram with fixed upper bounds (seconds)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Iterable[float] = _LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        """Record ``n`` observations of ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += n
        self.count += n
        self.sum += value * n

    def quantile(self, q: float) -> float:
        """An upper bound of the ``q`` quantile (the bucket bound it falls in; inf past the last)."""
        if not self.count:
            return 0.0
        rank, seen = q * self.count, 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += n
            if seen >= rank:
                return bound
        return float("inf")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class GatewayMetrics:
    """Everything the gateway counts; one instance per app."""

    def __init__(self) -> None:
        self.connections_total = 0
        self.rejected_total: Counter[str] = Counter()
        self.disconnects_total: Counter[str] = Counter()
        self.messages_sent: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.frames_sent = 0
        self.conflated: Counter[str] = Counter()
        self.discarded: Counter[str] = Counter()
        self.resume: Counter[str] = Counter()
        self.errors_sent: Counter[str] = Counter()
        self.inbound_messages = 0
        self.latency = Histogram()

    def render(
        self,
        *,
        active_connections: int,
        queued_messages: int,
        max_queue_depth: int,
        topic_seq: Mapping[str, int],
        stream_health: Mapping[str, Mapping[str, object]],
    ) -> str:
        """The exposition text, with the gauges passed in."""
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: Iterable[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                out.append(f"{name}{labels} {value:g}" if isinstance(value, float) else f"{name}{labels} {value}")

        def by(counter: Mapping[str, int], label: str) -> list[tuple[str, float]]:
            return [(_labels(**{label: k}), v) for k, v in sorted(counter.items())]

        metric("rxstream_ws_active_connections", "gauge", "Open WebSocket connections.", [("", active_connections)])
        metric("rxstream_ws_connections_total", "counter", "Accepted WebSocket connections.",
               [("", self.connections_total)])
        metric("rxstream_ws_rejected_total", "counter", "Connections refused, by reason.",
               by(self.rejected_total, "reason"))
        metric("rxstream_ws_disconnects_total", "counter", "Closed connections, by reason.",
               by(self.disconnects_total, "reason"))
        metric("rxstream_ws_messages_sent_total", "counter", "Messages delivered to clients, by topic.",
               by(self.messages_sent, "topic"))
        metric("rxstream_ws_bytes_sent_total", "counter", "Message bytes delivered to clients, by topic.",
               by(self.bytes_sent, "topic"))
        metric("rxstream_ws_frames_sent_total", "counter", "WebSocket frames written (a frame may hold many messages).",
               [("", self.frames_sent)])
        metric("rxstream_ws_conflated_total", "counter",
               "State-topic messages replaced by a newer value before sending (slow client or max_rate).",
               by(self.conflated, "topic"))
        metric("rxstream_ws_discarded_total", "counter",
               "Queued lossless messages discarded when a slow client was closed (it can resume them).",
               by(self.discarded, "topic"))
        metric("rxstream_ws_resume_total", "counter", "Resume requests, by result (hit = recovered, miss).",
               by(self.resume, "result"))
        metric("rxstream_ws_errors_sent_total", "counter", "Error messages sent to clients, by code.",
               by(self.errors_sent, "code"))
        metric("rxstream_ws_inbound_messages_total", "counter", "Frames received from clients.",
               [("", self.inbound_messages)])
        metric("rxstream_ws_queued_messages", "gauge", "Messages waiting in client queues, all clients.",
               [("", queued_messages)])
        metric("rxstream_ws_max_queue_depth", "gauge", "The deepest client queue now.", [("", max_queue_depth)])
        metric("rxstream_topic_last_seq", "gauge", "The last seq published per topic.", by(dict(topic_seq), "topic"))
        metric("rxstream_stream_healthy", "gauge", "1 when the stream is healthy.",
               [(_labels(stream=s), int(bool(h.get("is_healthy")))) for s, h in stream_health.items()])
        metric("rxstream_stream_errors_total", "counter", "Errors recorded per stream.",
               [(_labels(stream=s), int(h.get("total_errors", h.get("error_count", 0)) or 0))  # type: ignore[call-overload]
                for s, h in stream_health.items()])
        metric("rxstream_stream_recovery_attempts_total", "counter", "Recovery attempts per stream.",
               [(_labels(stream=s), int(h.get("recovery_attempts", 0) or 0))  # type: ignore[call-overload]
                for s, h in stream_health.items()])
        name = "rxstream_ws_send_latency_seconds"
        out.append(f"# HELP {name} From pipeline output (bus publish) to the socket write, per message; "
                   "a frame's messages are recorded at the age of its oldest.")
        out.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, n in zip(self.latency.bounds, self.latency.counts, strict=False):
            cumulative += n
            out.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.latency.count}')
        out.append(f"{name}_sum {self.latency.sum:.6f}")
        out.append(f"{name}_count {self.latency.count}")
        return "\n".join(out) + "\n"
