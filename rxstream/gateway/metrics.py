"""Gateway metrics through ``prometheus-client``: one registry per app, with process and GC collectors.

Counters of rare events (connections, refusals, closes, resumes, errors, inbound frames) are
``prometheus_client`` counters. What is counted per delivered message or frame — sent
messages and bytes per topic, frames, conflated and discarded messages, the send latency —
is kept in plain counters on the hot path (a labelled ``Counter.inc`` costs about a
microsecond, paid per client per frame) and handed to the registry at scrape time by a
collector, as counter and histogram families. Gauges (connections, queues, last seq per
topic, stream health) are read at scrape time from the function the app gives
:meth:`GatewayMetrics.watch`. There is no default-registry state: two apps in one
process count apart.
"""

from __future__ import annotations

import bisect
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "GatewayMetrics", "Histogram", "Scrape"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1,
                    0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds in seconds; fine between 5 and 100 ms, where a fan-out's latency goal sits."""

Scrape = Callable[[], Mapping[str, Any]]
"""Returns the gauges: ``active_connections``, ``queued_messages``, ``max_queue_depth``,
``topic_seq`` ({topic: last seq}) and ``stream_health`` ({stream: status entry})."""


class Histogram:
    """A cumulative histogram with fixed upper bounds (seconds), cheap to observe on the hot path."""

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

    def observe_each(self, values: Iterable[float], n: int = 1) -> None:
        """Record ``n`` observations of each of ``values`` (one call for a whole fan-out)."""
        counts, bounds, bisect_left = self.counts, self.bounds, bisect.bisect_left
        seen = total = 0.0
        for value in values:
            counts[bisect_left(bounds, value)] += n
            seen += 1
            total += value
        self.count += int(seen) * n
        self.sum += total * n

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

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append(("+Inf" if bound == float("inf") else f"{bound:g}", float(total)))
        return out


class GatewayMetrics:
    """Everything the gateway counts; one instance (and one registry) per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, GCCollector, PlatformCollector):
            collector(registry=self.registry)
        r = self.registry
        self.connections_total = Counter("rxstream_ws_connections", "Accepted WebSocket connections.", registry=r)
        self.rejected_total = Counter("rxstream_ws_rejected", "Connections refused, by reason.", ["reason"],
                                      registry=r)
        self.disconnects_total = Counter("rxstream_ws_disconnects", "Closed connections, by reason.", ["reason"],
                                         registry=r)
        self.resume = Counter("rxstream_ws_resume", "Resume requests, by result (hit = recovered, miss).",
                              ["result"], registry=r)
        self.errors_sent = Counter("rxstream_ws_errors_sent", "Error messages sent to clients, by code.", ["code"],
                                   registry=r)
        self.inbound_messages = Counter("rxstream_ws_inbound_messages", "Frames received from clients.", registry=r)
        # the hot path: plain tallies, exported at scrape time
        self.messages_sent: Tally[str] = Tally()
        self.bytes_sent: Tally[str] = Tally()
        self.conflated: Tally[str] = Tally()
        self.discarded: Tally[str] = Tally()
        self.frames_sent = 0
        self.latency = Histogram()
        self._scrape: Scrape | None = None
        r.register(_HotPath(self))

    def watch(self, scrape: Scrape) -> None:
        """Read the gauges from ``scrape`` at every scrape."""
        self._scrape = scrape

    def gauges(self) -> Mapping[str, Any]:
        """The gauges now (empty before :meth:`watch`)."""
        return self._scrape() if self._scrape is not None else {}

    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample (0 if it has none yet), e.g.
        ``value("rxstream_ws_disconnects_total", reason="slow_consumer")``."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> bytes:
        """The exposition text (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _HotPath(Collector):
    """Hands the hot-path tallies and the scraped gauges to the registry."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics

        def by(name: str, help_: str, tally: Mapping[str, int], label: str) -> CounterMetricFamily:
            family = CounterMetricFamily(name, help_, labels=[label])
            for key, value in sorted(tally.items()):
                family.add_metric([key], value)
            return family

        yield by("rxstream_ws_messages_sent", "Messages delivered to clients, by topic.", m.messages_sent, "topic")
        yield by("rxstream_ws_bytes_sent", "Message bytes delivered to clients, by topic.", m.bytes_sent, "topic")
        yield CounterMetricFamily("rxstream_ws_frames_sent", "WebSocket frames written (a frame may hold many"
                                  " messages).", value=m.frames_sent)
        yield by("rxstream_ws_conflated", "State-topic messages replaced by a newer value before sending (slow"
                 " client or max_rate).", m.conflated, "topic")
        yield by("rxstream_ws_discarded", "Queued lossless messages discarded when a slow client was closed (it"
                 " can resume them).", m.discarded, "topic")
        yield HistogramMetricFamily(
            "rxstream_ws_send_latency_seconds", "From the message reaching the gateway to the socket write, per"
            " message; a frame's messages are recorded at the age of its oldest.",
            buckets=m.latency.buckets(), sum_value=m.latency.sum,
        )
        gauges = m.gauges()
        if not gauges:
            return
        for name, help_ in (("active_connections", "Open WebSocket connections."),
                            ("queued_messages", "Messages waiting for clients, all clients."),
                            ("max_queue_depth", "The most messages waiting for one client now.")):
            yield GaugeMetricFamily(f"rxstream_ws_{name}", help_, value=gauges[name])
        seq = GaugeMetricFamily("rxstream_topic_last_seq", "The last seq published per topic.", labels=["topic"])
        for topic, value in sorted(gauges["topic_seq"].items()):
            seq.add_metric([topic], value)
        yield seq
        health: Mapping[str, Mapping[str, Any]] = gauges["stream_health"]
        healthy = GaugeMetricFamily("rxstream_stream_healthy", "1 when the stream is healthy.", labels=["stream"])
        errors = CounterMetricFamily("rxstream_stream_errors", "Errors recorded per stream.", labels=["stream"])
        attempts = CounterMetricFamily("rxstream_stream_recovery_attempts", "Recovery attempts per stream.",
                                       labels=["stream"])
        lag = GaugeMetricFamily("rxstream_stream_lag_seconds", "How far behind a stream that measures it is "
                                "(a gateway's Redis bus).", labels=["stream"])
        for stream, h in sorted(health.items()):
            healthy.add_metric([stream], int(bool(h.get("is_healthy"))))
            errors.add_metric([stream], float(h.get("total_errors", h.get("error_count", 0)) or 0))
            attempts.add_metric([stream], float(h.get("recovery_attempts", 0) or 0))
            if h.get("lag_seconds") is not None:
                lag.add_metric([stream], float(h["lag_seconds"]))
        yield from (healthy, errors, attempts, lag)
