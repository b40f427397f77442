"""Slow and stalled clients, and resume after a disconnect, against a real server and real sockets."""

from __future__ import annotations

import socket

import aiohttp
from gateway_helpers import Reader, make_bus, signal, start_server, tick

from rxstream.bus import TopicSpec
from rxstream.gateway.app import BROADCASTER, METRICS

PAD = "x" * 4000  # big messages fill the stalled socket's buffers quickly


def tiny_buffers(addr_info) -> socket.socket:
    """A client socket with a 4 KiB receive buffer, so a client that never reads stalls early."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def stalled_client(url) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=tiny_buffers))
    return session, await session.ws_connect(url)


async def test_stalled_client_on_state_topic_is_conflated_and_others_keep_their_latency(aiohttp_server) -> None:
    bus = make_bus()
    bus.declare(TopicSpec("quotes", "state", key=lambda v: v["symbol"]))
    server = await start_server(aiohttp_server, bus, close_timeout=0.5, inbound_rate=1e4, inbound_burst=10_000)
    broadcaster, metrics = server.app[BROADCASTER], server.app[METRICS]
    stalled_session, stalled = await stalled_client(server.make_url("/ws"))
    async with stalled_session, aiohttp.ClientSession() as session:
        await stalled.send_json({"type": "subscribe", "topics": ["quotes"]})
        fast_ws = await session.ws_connect(server.make_url("/ws"))
        fast = Reader(fast_ws)
        await fast_ws.send_json({"type": "subscribe", "topics": ["quotes"]})
        await fast.until("snapshot")
        symbols = [f"S{i}" for i in range(20)]
        depths = []
        for round_ in range(150):  # 150 x 20 x 4 KB = 12 MB, far more than the socket buffers hold
            for symbol in symbols:
                bus.publish("quotes", {"symbol": symbol, "n": round_, "pad": PAD})
            got = await fast.drain()
            depths.append(broadcaster.stats()["max_queue_depth"])
            # the reading client is never held up by the stalled one: it has every round's
            # latest value before the next round is published (timings live in benchmarks/)
            assert {m["data"]["symbol"]: m["data"]["n"] for m in got}.items() >= {"S19": round_}.items()
        # the stalled client is still connected, its queue never grew past one entry per key + one frame
        assert len(broadcaster.channels) == 2
        assert max(depths) <= broadcaster.limits.max_batch + len(symbols)
        # when the stalled client reads at last, it ends on the latest value of every key
        latest: dict[str, int] = {}
        reader = Reader(stalled)
        await stalled.send_json({"type": "ping", "id": "end"})
        while True:
            msg = await reader.next(timeout=10)
            if msg["type"] == "pong":
                break
            if msg["type"] not in ("data", "snapshot"):
                continue
            for item in msg["items"] if msg["type"] == "snapshot" else [msg]:
                latest[item["data"]["symbol"]] = item["data"]["n"]
        assert latest == {s: 149 for s in symbols}
        assert metrics.conflated["quotes"] > 0  # counted when the backlog is skipped, at its delivery


async def test_stalled_client_on_lossless_topic_is_closed_and_resumes_without_loss(aiohttp_server) -> None:
    bus = make_bus(history=100_000)
    server = await start_server(aiohttp_server, bus, queue_limit=50, close_timeout=0.3, inbound_rate=1e4,
                                inbound_burst=10_000)
    broadcaster, metrics = server.app[BROADCASTER], server.app[METRICS]
    stalled_session, stalled = await stalled_client(server.make_url("/ws"))
    async with stalled_session, aiohttp.ClientSession() as session:
        await stalled.send_json({"type": "subscribe", "topics": ["signals", "trade_executions"]})
        fast_ws = await session.ws_connect(server.make_url("/ws"))
        fast = Reader(fast_ws)
        await fast_ws.send_json({"type": "subscribe", "topics": ["signals"]})
        await fast.until("subscribed")
        n = 0
        received = 0
        while len(broadcaster.channels) == 2 and n < 20_000:
            for _ in range(20):
                n += 1
                bus.publish("signals", signal(n, reason=PAD))
            received += len(await fast.drain())
            assert broadcaster.stats()["max_queue_depth"] <= 50 + 1
        assert len(broadcaster.channels) == 1, "the stalled client was never closed"
        assert metrics.value("rxstream_ws_disconnects_total", reason="slow_consumer") == 1
        assert received == n  # the reading client missed nothing
        # the stalled client reads what reached it, then finds the connection closed
        reader = Reader(stalled)
        welcome = await reader.next()
        last = 0
        try:
            while True:
                msg = await reader.next(timeout=10)
                if msg["type"] == "data":
                    assert msg["seq"] == last + 1
                    last = msg["seq"]
        except ConnectionError:
            pass
        assert 0 < last < n
        # it comes back with its epoch and last seq: everything it missed, nothing twice
        ws = await session.ws_connect(server.make_url("/ws"))
        again = Reader(ws)
        await again.next()
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": welcome["epoch"],
                            "since": {"signals": last}})
        subscribed = await again.until("subscribed")
        assert subscribed["recovered"] is True
        missed = await again.take(n - last, timeout=10)
        assert [m["seq"] for m in missed] == list(range(last + 1, n + 1))
        await ws.close()


async def test_disconnect_mid_stream_and_resume_loses_no_trade_or_signal(aiohttp_server) -> None:
    from gateway_helpers import fill

    bus = make_bus(history=1000)
    server = await start_server(aiohttp_server, bus)
    topics = ["signals", "trade_executions"]
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        epoch = (await reader.next())["epoch"]
        await ws.send_json({"type": "subscribe", "topics": topics})
        await reader.until("subscribed", topic="signals")
        await reader.until("subscribed", topic="trade_executions")
        seen: dict[str, list[int]] = {t: [] for t in topics}
        for i in range(1, 31):
            bus.publish("signals", signal(i))
            bus.publish("trade_executions", fill(i))
        for msg in await reader.take(60):
            seen[msg["topic"]].append(msg["seq"])
        await ws.close()  # gone mid-stream
        for i in range(31, 101):
            bus.publish("signals", signal(i))
            bus.publish("trade_executions", fill(i))
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        await reader.next()
        await ws.send_json({"type": "subscribe", "topics": topics, "epoch": epoch,
                            "since": {t: seen[t][-1] for t in topics}})
        for i in range(101, 111):
            bus.publish("signals", signal(i))
            bus.publish("trade_executions", fill(i))
        got = await reader.drain()
        assert [m["recovered"] for m in got if m["type"] == "subscribed"] == [True, True]
        for msg in got:
            if msg["type"] == "data":
                seen[msg["topic"]].append(msg["seq"])
        for t in topics:
            assert seen[t] == list(range(1, 111)), (t, str(seen[t]))
        await ws.close()


async def test_resume_beyond_the_buffer_or_epoch_gives_recovered_false_and_snapshot(aiohttp_server) -> None:
    bus = make_bus(history=10)
    server = await start_server(aiohttp_server, bus)
    for i in range(1, 31):
        bus.publish("signals", signal(i))
        bus.publish("price_updates", tick("EURUSD", 1 + i / 1000, i))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        await reader.next()
        await ws.send_json({"type": "subscribe", "topics": ["signals", "price_updates"], "epoch": "epoch-1",
                            "since": {"signals": 5, "price_updates": 5}})
        sub = await reader.until("subscribed", topic="signals")
        assert sub["recovered"] is False and sub["seq"] == 30
        snap = await reader.until("snapshot", topic="signals")
        assert [i["seq"] for i in snap["items"]] == list(range(21, 31))  # what the buffer still holds
        sub = await reader.until("subscribed", topic="price_updates")
        snap = await reader.until("snapshot", topic="price_updates")
        assert snap["items"][0]["data"]["bid"] == 1.03
        # a restarted server (another epoch) cannot recover either
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": "old-epoch", "since": {"signals": 29}})
        assert (await reader.until("subscribed", topic="signals"))["recovered"] is False
        await reader.until("snapshot", topic="signals")
        # within the buffer: recovered and the missed ones
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": "epoch-1", "since": {"signals": 27}})
        assert (await reader.until("subscribed", topic="signals"))["recovered"] is True
        assert [m["seq"] for m in await reader.take(3)] == [28, 29, 30]
        await ws.close()
