"""Metrics through prometheus-client: one registry per app, process and GC collectors, unchanged names."""

from __future__ import annotations

import aiohttp
from gateway_helpers import Reader, make_bus, signal, start_server

from rxstream.gateway.app import METRICS
from rxstream.gateway.metrics import GatewayMetrics, Histogram


def test_two_metric_sets_count_apart_and_carry_process_and_gc_series() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.connections_total.inc()
    first.messages_sent["signals"] += 3
    assert first.value("rxstream_ws_connections_total") == 1 and second.value("rxstream_ws_connections_total") == 0
    text = first.render().decode()
    assert 'rxstream_ws_messages_sent_total{topic="signals"} 3.0' in text
    assert "process_resident_memory_bytes" in text and "process_open_fds" in text
    assert "python_gc_collections_total" in text
    assert 'rxstream_ws_messages_sent_total{topic="signals"}' not in second.render().decode()


async def test_two_servers_in_one_process_keep_their_own_counts(aiohttp_server) -> None:
    bus = make_bus()
    one = await start_server(aiohttp_server, bus)
    two = await start_server(aiohttp_server, make_bus())
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(one.make_url("/ws"))
        reader = Reader(ws)
        await reader.next()
        await ws.send_json({"type": "subscribe", "topics": ["signals"]})
        await reader.until("subscribed")
        bus.publish("signals", signal(1))
        await reader.until("data")
        await ws.close()
    assert one.app[METRICS].value("rxstream_ws_connections_total") == 1
    assert one.app[METRICS].value("rxstream_ws_messages_sent_total", topic="signals") == 1
    assert two.app[METRICS].value("rxstream_ws_connections_total") == 0


def test_the_send_latency_histogram_is_fine_where_the_fan_out_goal_sits() -> None:
    latency = Histogram()
    latency.observe_each([0.003, 0.012, 0.045], 2)  # three clients sent a frame of two messages
    latency.observe(0.18)
    assert latency.count == 7 and abs(latency.sum - 2 * 0.06 - 0.18) < 1e-9
    assert [latency.quantile(q) for q in (0.25, 0.5, 0.8, 1.0)] == [0.005, 0.015, 0.05, 0.2]
