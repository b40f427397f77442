"""The Python client against a real server: iterate, observe, reconnect and resume with nothing missed."""

from __future__ import annotations

import asyncio

import pytest
from browser_support import RestartableSite
from gateway_helpers import fill, make_bus, signal, start_server, tick

import rxstream.client
from rxstream.bus import InMemoryBus
from rxstream.client import StreamClient
from rxstream.errors import AuthError, ClientClosed, RxstreamError
from rxstream.gateway.app import BROADCASTER, StaticBackend, create_app
from rxstream.gateway.auth import TokenAuth
from rxstream.operators import Backoff
from rxstream.settings import Settings

FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05, jitter=0.0)

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
    async with StreamClient(str(server.make_url("/ws")), topics, backoff=FAST) as client:
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


def test_client_closed_is_in_the_error_tree() -> None:
    assert issubclass(ClientClosed, RxstreamError)
    assert rxstream.client.ClientClosed is ClientClosed


class Ledger:
    """A consumer that follows the documented contract: ``reset`` empties a topic, a snapshot is its whole state."""

    def __init__(self) -> None:
        self.fills: list[str] = []
        self.resets = 0

    def take(self, message: dict) -> None:
        if message["type"] == "subscribed" and message["reset"] and message["topic"] == "trade_executions":
            self.fills.clear()
            self.resets += 1
        elif message["type"] == "snapshot" and message["topic"] == "trade_executions":
            self.fills.extend(item["data"]["exec_id"] for item in message["items"])
        elif message["type"] == "data" and message["topic"] == "trade_executions":
            self.fills.append(message["data"]["exec_id"])


async def read_until(client: StreamClient, ledger: Ledger, done, timeout: float = 5.0) -> None:
    """Feed ``ledger`` until ``done(ledger)``."""
    while not done(ledger):
        ledger.take(await client.next(timeout))


async def test_a_restarted_server_replaying_its_fills_shows_each_exec_id_once() -> None:
    """A new server process (new epoch) whose broker re-sends the day's executions: each fill once."""
    first = make_bus(epoch="epoch-1")
    site = RestartableSite(lambda: create_app(Settings(), backend=StaticBackend(first)))
    await site.start()
    try:
        async with StreamClient(f"{site.url}ws", ["trade_executions", "signals"], backoff=FAST) as client:
            ledger = Ledger()
            await read_until(client, ledger, lambda _: client.last_seq.get("signals") is not None)
            for n in (1, 2, 3):
                first.publish("trade_executions", fill(n))
            await read_until(client, ledger, lambda led: len(led.fills) == 3)
            await site.stop()
            restarted: InMemoryBus = make_bus(epoch="epoch-2")
            for n in (1, 2, 3, 4, 5):  # the day's executions, fetched again by the new process
                restarted.publish("trade_executions", fill(n))
            site.make_app = lambda: create_app(Settings(), backend=StaticBackend(restarted))
            await site.start()
            await read_until(client, ledger, lambda led: led.resets == 1 and len(led.fills) >= 5)
            restarted.publish("trade_executions", fill(3))  # a broker resending an execution, under a new seq
            restarted.publish("trade_executions", fill(6))
            await read_until(client, ledger, lambda led: "exec-6" in led.fills)
            assert ledger.fills == [f"exec-{n}" for n in range(1, 7)]
            assert client.epoch == "epoch-2" and client.last_seq["trade_executions"] == 7
            assert client.state.duplicates == 1 and client.state.epoch_changes == 1
    finally:
        await site.stop()


async def test_a_resume_beyond_the_history_resets_the_topic(aiohttp_server) -> None:
    bus = make_bus(history=5)
    server = await start_server(aiohttp_server, bus)
    async with StreamClient(str(server.make_url("/ws")), ["trade_executions"], backoff=FAST) as client:
        ledger = Ledger()
        bus.publish("trade_executions", fill(1))
        await read_until(client, ledger, lambda led: len(led.fills) == 1)
        for channel in list(server.app[BROADCASTER].channels.values()):
            channel.sink.abort()
        for n in range(2, 12):  # more than the history holds
            bus.publish("trade_executions", fill(n))
        await read_until(client, ledger, lambda led: led.resets == 1 and len(led.fills) == 5)
        assert ledger.fills == [f"exec-{n}" for n in range(7, 12)]  # the server's whole window, once each
        assert client.state.gaps == 0
