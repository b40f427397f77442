"""The Python client against a real server: iterate, observe, reconnect and resume with nothing missed."""

from __future__ import annotations

import asyncio

import pytest
from gateway_helpers import fill, make_bus, signal, start_server, tick

from rxstream.client import StreamClient
from rxstream.errors import AuthError
from rxstream.gateway.app import BROADCASTER
from rxstream.gateway.auth import TokenAuth

SECRET = "a-test-secret-that-is-32-bytes-long!"


async def data(client: StreamClient, n: int, timeout: float = 5.0) -> list[dict]:
    out = []
    while len(out) < n:
        message = await client.next(timeout)
        if message["type"] == "data":
            out.append(message)
    return out


async def test_iterates_data_after_snapshot(aiohttp_server) -> None:
    bus = make_bus()
    bus.publish("price_updates", tick("EURUSD", 1.1))
    server = await start_server(aiohttp_server, bus)
    async with StreamClient(str(server.make_url("/ws")), ["price_updates", "signals"]) as client:
        kinds = [(await client.next(5))["type"] for _ in range(3)]
        assert kinds.count("subscribed") == 2 and "snapshot" in kinds
        for i in range(1, 6):
            bus.publish("signals", signal(i))
        got = await data(client, 5)
        assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
        assert client.last_seq["signals"] == 5 and client.epoch == "epoch-1"


async def test_reconnects_and_resumes_without_missing_or_repeating(aiohttp_server) -> None:
    bus = make_bus(history=1000)
    server = await start_server(aiohttp_server, bus)
    topics = ["signals", "trade_executions"]
    async with StreamClient(str(server.make_url("/ws")), topics, backoff=(0.01, 0.05)) as client:
        for i in range(1, 21):
            bus.publish("signals", signal(i))
            bus.publish("trade_executions", fill(i))
        first = await data(client, 40)
        for channel in list(server.app[BROADCASTER].channels.values()):
            channel.sink.abort()  # the network drops
        for i in range(21, 61):  # published while the client is away
            bus.publish("signals", signal(i))
            bus.publish("trade_executions", fill(i))
        resumed = []
        while len(resumed) < 80:
            message = await client.next(5)
            if message["type"] == "subscribed":
                assert message["recovered"] is True
            elif message["type"] == "data":
                resumed.append(message)
        assert client.connects == 2
        for topic in topics:
            seqs = [m["seq"] for m in first + resumed if m["topic"] == topic]
            assert seqs == list(range(1, 61))


async def test_observable_delivers_messages(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus)
    async with StreamClient(str(server.make_url("/ws")), ["signals"]) as client:
        seen: list[int] = []
        done = asyncio.get_running_loop().create_future()

        def on_next(message: dict) -> None:
            if message["type"] == "data":
                seen.append(message["seq"])
                if len(seen) == 3 and not done.done():
                    done.set_result(None)

        subscription = client.observable().subscribe(on_next)
        for i in range(1, 4):
            bus.publish("signals", signal(i))
        await asyncio.wait_for(done, 5)
        subscription.dispose()
        assert seen == [1, 2, 3]


async def test_bad_token_is_final(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), auth_secret=SECRET)
    client = StreamClient(str(server.make_url("/ws")), ["signals"], token="nonsense")
    with pytest.raises(AuthError, match="invalid_token"):
        await client.connect()
        await client.next(5)
    await client.close()
    good = StreamClient(str(server.make_url("/ws")), ["signals"], token=TokenAuth(SECRET).issue(topics=["signals"]))
    async with good:
        assert (await good.next(5))["type"] == "subscribed"
