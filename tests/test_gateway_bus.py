"""The in-memory bus: seq, epoch, encode once with the encoder it is handed, snapshot, resume and rewind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from gateway_helpers import make_bus, signal, tick

from rxstream.bus import InMemoryBus, TopicSpec
from rxstream.errors import ConfigError, RxstreamError
from rxstream.gateway.protocol import encode_data


def test_publish_numbers_and_encodes_once_with_the_protocols_encoder() -> None:
    bus = make_bus()
    m = bus.publish("signals", signal(1))
    assert (m.seq, m.epoch, m.symbol, m.key) == (1, "epoch-1", "EURUSD", None)
    assert m.payload == encode_data("signals", 1, "epoch-1", m.time, signal(1).to_dict())
    assert orjson.loads(m.payload)["type"] == "data" and m.data == signal(1).to_dict()


def test_the_bus_uses_the_encoder_it_is_handed() -> None:
    calls = []

    def encoder(topic, seq, epoch, time, body) -> bytes:
        calls.append((topic, seq, epoch, body))
        return b"<%d>" % seq

    bus = InMemoryBus(epoch="e", encoder=encoder)
    bus.declare(TopicSpec("t"))
    seen = []
    bus.subscribe(seen.append)
    bus.subscribe(seen.append)
    bus.publish("t", {"symbol": "X"})
    assert calls == [("t", 1, "e", {"symbol": "X"})]  # once, whatever the number of listeners
    assert [m.payload for m in seen] == [b"<1>", b"<1>"] and seen[0] is seen[1]


def test_a_message_without_its_value_still_gives_its_body() -> None:
    m = make_bus().publish("price_updates", tick())
    from dataclasses import replace

    assert replace(m, value=None).data == orjson.loads(tick().to_json())


def test_snapshot_keeps_latest_per_key_in_seq_order_and_since_reports_loss() -> None:
    bus = make_bus(history=5)
    for n in range(3):
        bus.publish("price_updates", tick("A", 1 + n, n))
        bus.publish("price_updates", tick("B", 2 + n, n))
    assert [m.seq for m in bus.snapshot("price_updates")] == [5, 6]
    for n in range(1, 11):
        bus.publish("signals", signal(n))
    assert [m.seq for m in bus.since("signals", 7) or []] == [8, 9, 10]
    assert bus.since("signals", 10) == []
    assert bus.since("signals", 4) is None  # 5 left the history of 5 (6..10)
    assert bus.since("signals", 11) is None


def test_recent_by_count_and_by_seconds_stays_inside_the_history() -> None:
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    bus = InMemoryBus(epoch="e", clock=lambda: now[0])
    bus.declare(TopicSpec("signals", history=5))
    for n in range(1, 9):
        now[0] += timedelta(seconds=1)
        bus.publish("signals", signal(n))
    assert [m.seq for m in bus.recent("signals", count=3)] == [6, 7, 8]
    assert [m.seq for m in bus.recent("signals", count=100)] == [4, 5, 6, 7, 8]
    assert bus.recent("signals", count=0) == []
    assert [m.seq for m in bus.recent("signals", seconds=2)] == [6, 7, 8]
    assert [m.seq for m in bus.recent("signals", seconds=3600)] == [4, 5, 6, 7, 8]
    with pytest.raises(ConfigError):
        bus.recent("signals")


def test_declaration_mistakes_raise_the_rxstream_tree() -> None:
    bus = make_bus()
    with pytest.raises(RxstreamError):
        bus.declare(TopicSpec("signals", history=7))
    with pytest.raises(ConfigError):
        TopicSpec("prices", "state")
    with pytest.raises(ConfigError):
        TopicSpec("x", history=0)
