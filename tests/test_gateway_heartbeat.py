"""One heartbeat for every connection: the rule in explicit time, then over real sockets."""

from __future__ import annotations

import asyncio

import aiohttp
from gateway_helpers import ListSink, Reader, make_bus, signal, start_server

from rxstream.gateway.broadcaster import Broadcaster
from rxstream.gateway.heartbeat import Heartbeat
from rxstream.gateway.protocol import Connection


async def test_the_silent_are_pinged_and_the_unanswering_dropped_at_the_given_times() -> None:
    bus = make_bus()
    broadcaster = Broadcaster(bus)
    sinks = {name: ListSink() for name in ("talks", "answers", "dead")}
    channels = {name: broadcaster.connect(Connection(name, epoch=bus.epoch, topics={}), sink)
                for name, sink in sinks.items()}
    heartbeat = Heartbeat(10.0, lambda: broadcaster.channels.values())
    assert heartbeat.sweep(5.0) == [] and not any(getattr(s, "pings", 0) for s in sinks.values())
    channels["talks"].heard = 9.0
    assert heartbeat.sweep(10.0) == []  # silent for 10 s: pinged
    assert {n: getattr(s, "pings", 0) for n, s in sinks.items()} == {"talks": 0, "answers": 1, "dead": 1}
    channels["answers"].heard = 12.0  # its pong
    assert heartbeat.sweep(14.9) == []  # 4.9 s after the ping: still in its grace
    assert heartbeat.sweep(15.0) == [channels["dead"]] and sinks["dead"].aborted
    assert not sinks["answers"].aborted and channels["answers"].pinged is None
    channels["talks"].heard = 19.0
    heartbeat.sweep(22.0)  # answers: silent since 12, pinged again; talks spoke at 19
    assert sinks["answers"].pings == 2 and getattr(sinks["talks"], "pings", 0) == 0


async def test_a_peer_that_never_answers_pings_is_dropped_and_one_that_does_stays(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, ping_interval=0.2)
    async with aiohttp.ClientSession() as session:
        good = Reader(await session.ws_connect(server.make_url("/ws")))  # answers pings (autoping)
        await good.next()
        await good.ws.send_json({"type": "subscribe", "topics": ["signals"]})
        await good.until("subscribed")
        listening = asyncio.ensure_future(good.until("data", timeout=10))  # reading answers the pings
        dead = await session.ws_connect(server.make_url("/ws"), autoping=False)
        message = await dead.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.TEXT  # welcome
        while True:  # it sees the pings, never answers, and is dropped
            message = await dead.receive(timeout=5)
            if message.type is not aiohttp.WSMsgType.PING:
                break
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        bus.publish("signals", signal(1))
        assert (await listening)["seq"] == 1  # pinged just as often, and still here
