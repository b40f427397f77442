"""The broadcaster and its channels without sockets, through the ListSink test double (tests/gateway_helpers.py).

Shared frames, per-key conflation for a slow client, the ``max_rate`` gate in virtual time, and
the slow-consumer invariant: a lossless client is closed while its resume point is in the history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from gateway_helpers import ListSink, make_bus, signal, tick
from reactivex.scheduler import HistoricalScheduler

from rxstream.gateway.broadcaster import Broadcaster
from rxstream.gateway.outbox import Entry, Outbox
from rxstream.gateway.protocol import CloseCode, Connection, ConnectionState, Limits
from rxstream.gateway.sink import Framer, header_size


def connect(broadcaster: Broadcaster, sink: ListSink, name: str = "c") -> Connection:
    bus = broadcaster.bus
    connection = Connection(name, epoch=bus.epoch, topics={t: s.policy for t, s in bus.topics.items()},
                            limits=broadcaster.limits)
    channel = broadcaster.connect(connection, sink)
    assert sink.read()[0]["type"] == "welcome"
    return connection, channel


def subscribe(broadcaster, channel, frame: str) -> None:
    broadcaster.execute(channel, channel.connection.receive(frame, 0.0))
    broadcaster.flush()


def test_outbox_conflates_state_keys_only_past_its_threshold_and_bounds_lossless() -> None:
    box = Outbox(limit=2, conflate_at=2)
    e = [Entry(b"%d" % i, "p", i, 0.0) for i in range(5)]
    box.put_latest(("p", "A"), e[0])
    box.put_latest(("p", "A"), e[1])  # under the threshold: both kept
    box.put_latest(("p", "A"), e[2])  # past it: keyed, replaces nothing yet
    box.put_latest(("p", "A"), e[3])  # replaces e[2]
    assert [x.payload for x in box.take()] == [b"0", b"1", b"3"] and box.conflated == {"p": 1}
    assert box.put(e[0]) and box.put(e[1]) and not box.put(e[2])
    assert box.put(e[3], force=True) and len(box) == 3


async def test_readers_at_the_same_position_share_one_frame_per_turn() -> None:
    bus = make_bus()
    broadcaster = Broadcaster(bus)
    broadcaster.start()
    sinks = [ListSink() for _ in range(3)]
    channels = [connect(broadcaster, s, f"c{i}")[1] for i, s in enumerate(sinks)]
    for channel, sink in zip(channels, sinks, strict=True):
        subscribe(broadcaster, channel, '{"type":"subscribe","topics":["signals"]}')
        assert [m["type"] for m in sink.read()] == ["subscribed"]
    for n in range(1, 11):
        bus.publish("signals", signal(n))
    broadcaster.flush()
    assert all(len(s.frames) == 1 for s in sinks)
    assert sinks[0].frames[0] is sinks[1].frames[0] is sinks[2].frames[0]  # built once, sent to all
    assert [m["seq"] for m in sinks[2].read()] == list(range(1, 11))


async def test_a_control_message_follows_the_data_published_before_it() -> None:
    bus = make_bus()
    broadcaster = Broadcaster(bus)
    broadcaster.start()
    sink = ListSink()
    _, channel = connect(broadcaster, sink)
    subscribe(broadcaster, channel, '{"type":"subscribe","topics":["signals"]}')
    bus.publish("signals", signal(1))
    broadcaster.execute(channel, channel.connection.receive('{"type":"ping","id":1}', 0.0))
    bus.publish("signals", signal(2))
    broadcaster.flush()
    assert [(m["type"], m.get("seq")) for m in sink.read()] == [
        ("subscribed", 0), ("data", 1), ("pong", None), ("data", 2)]


async def test_a_slow_client_on_a_state_topic_gets_the_latest_per_key_not_a_backlog() -> None:
    bus = make_bus()
    broadcaster = Broadcaster(bus, limits=Limits(max_batch=8))
    broadcaster.start()
    slow, fast = ListSink(), ListSink()
    _, slow_channel = connect(broadcaster, slow, "slow")
    _, fast_channel = connect(broadcaster, fast, "fast")
    for channel in (slow_channel, fast_channel):
        subscribe(broadcaster, channel, '{"type":"subscribe","topics":["price_updates"]}')
    slow.read(), fast.read()
    slow.stall()
    bus.publish("price_updates", tick("A", 1.0))
    broadcaster.flush()  # this write finds the slow transport full
    for n in range(100):
        for symbol in ("A", "B", "C"):
            bus.publish("price_updates", tick(symbol, 1 + n / 1000, n))
        broadcaster.flush()
    assert len(fast.read()) == 301  # the reader that keeps up sees every update
    assert broadcaster.stats()["max_queue_depth"] <= 8
    slow.read()  # the slow peer reads at last: the transport drains, the channel writes again
    await asyncio.sleep(0)  # the drain task runs and marks the channel
    broadcaster.flush()
    latest = {m["data"]["symbol"]: m["data"]["bid"] for m in slow.read() if m["type"] == "data"}
    assert latest == {"A": 1.099, "B": 1.099, "C": 1.099}
    assert broadcaster.metrics.conflated["price_updates"] == 300 - 3


async def test_max_rate_gate_sends_at_most_one_per_interval_per_key_and_always_the_latest() -> None:
    clock = HistoricalScheduler()
    bus = make_bus()
    broadcaster = Broadcaster(bus, scheduler=clock)
    broadcaster.start()
    sink = ListSink()
    _, channel = connect(broadcaster, sink)
    subscribe(broadcaster, channel, '{"type":"subscribe","topics":["price_updates"],"max_rate":2}')
    sink.read()
    for step in range(30):  # 10 updates per virtual second for 3 s
        clock.advance_by(timedelta(milliseconds=100))
        bus.publish("price_updates", tick("A", 1 + step / 1000, step))
        broadcaster.flush()
    clock.advance_by(timedelta(seconds=1))  # the held latest is released
    broadcaster.flush()
    got = [m["data"]["bid"] for m in sink.read()]
    assert 6 <= len(got) <= 7 and got[-1] == 1.029
    assert got == sorted(got)


@pytest.mark.parametrize(("queue_limit", "history"), [(1000, 1000), (50, 100_000), (5000, 100), (1, 2)])
async def test_a_slow_lossless_client_is_closed_while_its_resume_point_is_in_the_history(queue_limit, history) -> None:
    bus = make_bus(history=history)
    broadcaster = Broadcaster(bus, limits=Limits(queue_limit=queue_limit), close_timeout=0.01)
    broadcaster.start()
    sink = ListSink()
    connection, channel = connect(broadcaster, sink)
    subscribe(broadcaster, channel, '{"type":"subscribe","topics":["signals"]}')
    sink.read()
    n = 0
    for _ in range(3):  # it keeps up for a while
        n += 1
        bus.publish("signals", signal(n))
        broadcaster.flush()
    sink.stall()
    while connection.state is ConnectionState.OPEN and n < 3 * history + 10:
        n += 1
        bus.publish("signals", signal(n))
        broadcaster.flush()
    assert connection.state is not ConnectionState.OPEN, "never closed"
    await channel.wait_closed()
    assert sink.aborted  # it never answered the close
    messages = sink.read()
    assert messages[-1]["code"] == "slow_consumer"
    data = [m["seq"] for m in messages if m["type"] == "data"]
    assert data == list(range(1, len(data) + 1))
    resume_point = data[-1]
    assert bus.since("signals", resume_point) is not None  # recovered: true on reconnect
    assert n - resume_point <= max(1, min(queue_limit, history // 2)) + 1
    assert broadcaster.channels == {}


async def test_refusal_and_going_away_go_through_the_connection() -> None:
    bus = make_bus()
    broadcaster = Broadcaster(bus)
    sink = ListSink()
    connection = Connection("r", epoch=bus.epoch, topics={})
    channel = broadcaster.refuse(connection, sink, connection.refuse_full(3))
    await channel.wait_closed()
    assert [m["code"] for m in sink.read()] == ["too_many_connections"]
    assert sink.closed == (CloseCode.TRY_AGAIN_LATER, "3 connections already; retry later")
    assert connection.state is ConnectionState.CLOSED and broadcaster.channels == {}
    other = ListSink()
    connect(broadcaster, other)
    await broadcaster.stop()
    assert other.closed is not None and other.closed[0] == CloseCode.GOING_AWAY
    assert [m["code"] for m in other.read()] == ["going_away"]



def test_a_frame_sent_to_many_clients_is_framed_once_and_framed_right() -> None:
    framer = Framer()
    small, medium, large = b"[1]", b"x" * 2000, b"y" * 70_000
    assert framer(small) == b"\x81\x03[1]"
    assert framer(medium)[:4] == b"\x81\x7e\x07\xd0" and framer(medium)[4:] == medium
    assert framer(medium) is framer(medium)  # the same frame for the next client: the same framed bytes
    framed = framer(large)
    assert framed[:2] == b"\x81\x7f" and int.from_bytes(framed[2:10], "big") == 70_000 and framed[10:] == large
    assert [header_size(n) for n in (3, 2000, 70_000)] == [2, 4, 10]


async def test_readers_in_step_share_one_write_while_one_behind_catches_up_in_order() -> None:
    bus = make_bus(history=100)
    broadcaster = Broadcaster(bus, limits=Limits(max_batch=4))
    broadcaster.start()
    sinks = [ListSink() for _ in range(3)]
    channels = [connect(broadcaster, s, f"c{i}")[1] for i, s in enumerate(sinks)]
    for channel, sink in zip(channels, sinks, strict=True):
        subscribe(broadcaster, channel, '{"type":"subscribe","topics":["signals"]}')
        sink.read()
    sinks[2].stall()  # its transport is full: it falls behind
    for n in range(1, 4):
        bus.publish("signals", signal(n))
    broadcaster.flush()
    assert sinks[0].frames[0] is sinks[1].frames[0]  # one frame for the two in step
    assert [m["seq"] for m in sinks[0].read()] == [1, 2, 3]
    for n in range(4, 7):
        bus.publish("signals", signal(n))
    broadcaster.flush()  # the stalled one is blocked: nothing more is written to it
    assert [m["seq"] for m in sinks[2].read()] == [1, 2, 3]  # reading ends its drain
    for _ in range(100):  # the drain task marks it writable again, a loop turn or two later
        if not channels[2].blocked:
            break
        await asyncio.sleep(0)
    assert not channels[2].blocked
    for n in range(7, 9):
        bus.publish("signals", signal(n))
    broadcaster.flush()  # it is 5 behind (more than a frame): its own frames, in order
    assert [m["seq"] for m in sinks[2].read()] == [4, 5, 6, 7, 8]
    assert [m["seq"] for m in sinks[0].read()] == [4, 5, 6, 7, 8]
    for channel in channels[:1] + channels[2:]:
        channel.refresh_delivered()  # everything was read: the resume point is the last seq
        assert channel.subscriptions["signals"].delivered == 8
