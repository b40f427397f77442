"""The gateway over a real aiohttp server on a real port, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import aiohttp
from gateway_helpers import Reader, check_server, make_bus, signal, start_server, tick
from reactivex.scheduler import HistoricalScheduler

from rxstream.gateway.auth import TokenAuth
from rxstream.health import HealthMonitor

SECRET = "a-test-secret-that-is-32-bytes-long!"


async def connect(
    server, path: str = "/ws", **kw
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, Reader]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(server.make_url(path), **kw)
    return session, ws, Reader(ws)


async def test_publish_reaches_subscribers_with_contiguous_seq(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus)
    session, ws, reader = await connect(server)
    async with session:
        welcome = await reader.next()
        assert welcome["type"] == "welcome" and welcome["epoch"] == "epoch-1"
        assert set(welcome["topics"]) == {"price_updates", "portfolio_updates", "signals", "trade_executions"}
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "id": 1})
        subscribed = await reader.until("subscribed")
        assert subscribed == {"type": "subscribed", "topic": "signals", "policy": "lossless", "seq": 0,
                              "epoch": "epoch-1", "symbols": None, "max_rate": None, "reset": False, "id": 1}
        for n in range(1, 201):
            bus.publish("signals", signal(n))
        got = await reader.take(200)
        assert [m["seq"] for m in got] == list(range(1, 201))
        assert got[0]["data"]["reason"] == "#1" and got[0]["topic"] == "signals"
        assert reader.arrays >= 1  # a burst is coalesced into array frames


async def test_two_clients_get_exactly_what_they_asked_for(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus)
    s1, ws1, r1 = await connect(server)
    s2, ws2, r2 = await connect(server)
    async with s1, s2:
        await ws1.send_json({"type": "subscribe", "topics": ["price_updates"], "symbols": ["EURUSD"]})
        await ws2.send_json({"type": "subscribe", "topics": ["signals", "price_updates"], "symbols": ["GBPUSD"]})
        await r1.until("snapshot")
        await r2.until("snapshot")
        for n in range(10):
            bus.publish("price_updates", tick("EURUSD", 1.1 + n / 1000, n))
            bus.publish("price_updates", tick("GBPUSD", 1.3 + n / 1000, n))
            bus.publish("signals", signal(n, "GBPUSD" if n % 2 else "EURUSD"))
        got1 = await r1.drain()
        got2 = await r2.drain()
        assert {(m["topic"], m["data"]["symbol"]) for m in got1} == {("price_updates", "EURUSD")}
        assert {(m["topic"], m["data"]["symbol"]) for m in got2} == {("price_updates", "GBPUSD"), ("signals", "GBPUSD")}
        assert [m["data"]["reason"] for m in got2 if m["topic"] == "signals"] == ["#1", "#3", "#5", "#7", "#9"]
        # no slow client here: every price update arrives, in seq order
        assert [m["data"]["bid"] for m in got1] == [round(1.1 + n / 1000, 10) for n in range(10)]


async def test_snapshot_on_subscribe_has_latest_per_key(aiohttp_server) -> None:
    bus = make_bus()
    for n in range(5):
        bus.publish("price_updates", tick("EURUSD", round(1.1 + n / 100, 6), n))
        bus.publish("price_updates", tick("USDJPY", 150 + n, n))
    server = await start_server(aiohttp_server, bus)
    session, ws, reader = await connect(server)
    async with session:
        await ws.send_json({"type": "subscribe", "topics": ["price_updates"]})
        snap = await reader.until("snapshot")
        assert snap["seq"] == 10 and snap["topic"] == "price_updates"
        assert {i["data"]["symbol"]: i["data"]["bid"] for i in snap["items"]} == {"EURUSD": 1.14, "USDJPY": 154}
        bus.publish("price_updates", tick("EURUSD", 1.2, 9))
        assert (await reader.next())["seq"] == 11


async def test_max_rate_is_honoured_in_virtual_time(aiohttp_server) -> None:
    clock = HistoricalScheduler()
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, scheduler=clock)
    session, ws, reader = await connect(server)
    s2, ws2, fast = await connect(server)
    async with session, s2:
        await ws.send_json({"type": "subscribe", "topics": ["price_updates"], "max_rate": 2})  # one per 0.5 s per key
        await ws2.send_json({"type": "subscribe", "topics": ["price_updates"]})
        await reader.until("snapshot")
        await fast.until("snapshot")
        # 10 updates per virtual second for 3 s on two symbols
        for step in range(30):
            clock.advance_by(timedelta(milliseconds=100))
            for symbol in ("EURUSD", "GBPUSD"):
                bus.publish("price_updates", tick(symbol, 1 + step / 1000, step))
        clock.advance_by(timedelta(seconds=1))  # flush what is held
        got = await reader.drain()
        everything = await fast.drain()
        assert len(everything) == 60
        for symbol in ("EURUSD", "GBPUSD"):
            mine = [m for m in got if m["data"]["symbol"] == symbol]
            assert 6 <= len(mine) <= 7, len(mine)  # 3 s at 2/s (+ the trailing latest)
            assert mine[-1]["data"]["bid"] == 1 + 29 / 1000  # always ends on the latest value
            seqs = [m["seq"] for m in mine]
            assert seqs == sorted(seqs)


async def test_bad_frames_get_documented_errors_and_server_keeps_serving(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, max_frame_size=1024)
    session, ws, reader = await connect(server)
    s2, ws2, other = await connect(server)
    async with session, s2:
        await ws2.send_json({"type": "subscribe", "topics": ["signals"]})
        await other.until("subscribed")
        await reader.next()
        cases = [
            ("{oops", "invalid_json"),
            ('{"type":"dance"}', "unknown_type"),
            ('{"type":"subscribe","topics":["nope"]}', "unknown_topic"),
            ('{"type":"subscribe","topics":["signals"],"max_rate":-1}', "invalid_field"),
            (json.dumps({"type": "ping", "pad": "x" * 2000}), "frame_too_large"),
        ]
        for frame, code in cases:
            await ws.send_str(frame)
            error = await reader.until("error")
            assert error["code"] == code, error
            if code == "unknown_topic":
                assert "'nope'" in error["message"] and error["topic"] == "nope"
        await ws.send_json({"type": "ping", "id": "still-here"})
        assert (await reader.until("pong")) == {"type": "pong", "id": "still-here"}
        bus.publish("signals", signal(1))
        assert (await other.next())["seq"] == 1
        # past the hard limit (4x) the WebSocket layer closes with 1009; others carry on
        await ws.send_str("x" * 5000)
        assert await reader.closed() == 1009
        bus.publish("signals", signal(2))
        assert (await other.next())["seq"] == 2


async def test_inbound_rate_limit_closes_with_4029(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), inbound_rate=5, inbound_burst=5)
    session, ws, reader = await connect(server)
    async with session:
        for _ in range(20):
            await ws.send_str('{"type":"ping"}')
        error = await reader.until("error")
        assert error["code"] == "rate_limited"
        assert await reader.closed() == 4029


async def test_connection_limit_gives_error_and_1013(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, max_connections=2)
    s1, ws1, r1 = await connect(server)
    s2, ws2, r2 = await connect(server)
    s3, _ws3, r3 = await connect(server)
    async with s1, s2, s3:
        await r1.next()
        await r2.next()
        error = await r3.next()
        assert error["type"] == "error" and error["code"] == "too_many_connections"
        assert await r3.closed() == 1013
        await ws1.send_json({"type": "subscribe", "topics": ["signals"]})
        await r1.until("subscribed")
        bus.publish("signals", signal(1))
        assert (await r1.next())["seq"] == 1
        await ws2.close()
        s4, _ws4, r4 = await connect(server)  # a freed slot is usable again
        async with s4:
            assert (await r4.next())["type"] == "welcome"


async def test_tokens_bad_expired_and_topic_grants(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, auth_secret=SECRET)
    auth = TokenAuth(SECRET)
    cases = {
        "": "auth_required",
        "?token=garbage": "invalid_token",
        "?token=" + TokenAuth("another-secret-also-32-bytes-long!!").issue(ttl=60): "invalid_token",
        "?token=" + TokenAuth(SECRET, clock=lambda: time.time() - 120).issue(ttl=60): "token_expired",
    }
    for query, code in cases.items():
        session, ws, reader = await connect(server, "/ws" + query)
        async with session:
            error = await reader.next()
            assert error["code"] == code, (query, error)
            assert await reader.closed() == 4001
    session, ws, reader = await connect(server, headers={"Authorization": "Bearer " + auth.issue(topics=["signals"])})
    async with session:
        welcome = await reader.next()
        assert welcome["topics"] == ["signals"] and welcome["expires_at"] > time.time()
        await ws.send_json({"type": "subscribe", "topics": ["signals", "trade_executions"]})
        assert (await reader.until("error"))["code"] == "forbidden_topic"
        await reader.until("subscribed", topic="signals")
        bus.publish("signals", signal(1))
        assert (await reader.until("data"))["seq"] == 1


async def test_token_expiring_on_a_live_connection_closes_it(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), auth_secret=SECRET)
    token = TokenAuth(SECRET, clock=lambda: time.time() - 59.7).issue(ttl=60)  # 0.3 s left
    session, _ws, reader = await connect(server, f"/ws?token={token}")
    async with session:
        await reader.next()
        error = await reader.until("error", timeout=5)
        assert error["code"] == "token_expired"
        assert await reader.closed() == 4001


async def test_origin_allowlist(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), allowed_origins=("https://desk.example",))
    async with aiohttp.ClientSession() as session:
        try:
            await session.ws_connect(server.make_url("/ws"), headers={"Origin": "https://evil.example"})
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        else:
            raise AssertionError("a foreign origin was accepted")
        ws = await session.ws_connect(server.make_url("/ws"), headers={"Origin": "https://desk.example"})
        assert (await Reader(ws).next())["type"] == "welcome"
        await ws.close()


async def test_status_route_follows_health(aiohttp_server) -> None:
    clock = HistoricalScheduler()
    health = HealthMonitor(clock)
    health.register("price_updates")
    health.record_update("price_updates")
    server = await start_server(aiohttp_server, make_bus(), health=health, scheduler=clock)
    async with aiohttp.ClientSession() as session:
        async def status() -> dict:
            async with session.get(server.make_url("/websocket/status")) as response:
                assert response.status == 200
                return await response.json()

        body = await status()
        for key, value in {"enabled": True, "active_connections": 0, "max_connections": 100, "ping_interval": 30,
                           "price_update_interval": 3, "portfolio_update_interval": 5}.items():
            assert body[key] == value, key
        assert body["stream_health"]["price_updates"]["is_healthy"] is True
        assert "auth_secret" not in json.dumps(body)
        for _ in range(10):
            health.record_error("price_updates", "feed timeout")
        body = await status()
        assert body["stream_health"]["price_updates"]["is_healthy"] is False
        assert body["stream_health"]["price_updates"]["error_count"] == 10 and body["healthy"] is False
        health.record_update("price_updates")
        assert (await status())["stream_health"]["price_updates"]["is_healthy"] is True
        ws = await session.ws_connect(server.make_url("/ws"))
        await Reader(ws).next()
        assert (await status())["active_connections"] == 1
        await ws.close()


async def test_status_never_shows_secrets(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), auth_secret=SECRET)
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/websocket/status")) as response:
        text = await response.text()
    assert SECRET not in text and json.loads(text)["auth_enabled"] is True


async def test_metrics_route(aiohttp_server) -> None:
    bus = make_bus()
    server = await start_server(aiohttp_server, bus)
    session, ws, reader = await connect(server)
    async with session:
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": "old", "since": {"signals": 3}})
        await reader.until("subscribed")
        bus.publish("signals", signal(1))
        await reader.until("data")
        async with session.get(server.make_url("/metrics")) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    for line in ("rxstream_ws_active_connections 1", 'rxstream_ws_messages_sent_total{topic="signals"} 1',
                 'rxstream_ws_resume_total{result="miss"} 1', 'rxstream_topic_last_seq{topic="signals"} 1',
                 "rxstream_ws_send_latency_seconds_count"):
        assert line in text, line
    for line in text.splitlines():
        assert line.startswith("#") or len(line.split(" ")) == 2, line


async def test_shutdown_sends_1001(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus())
    session, _ws, reader = await connect(server)
    async with session:
        await reader.next()
        closing = asyncio.ensure_future(reader.closed())
        await server.close()
        assert await closing == 1001


async def test_index_serves_a_page(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus())
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/")) as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]


def test_schema_accepts_documented_examples() -> None:
    check_server({"type": "pong"})
