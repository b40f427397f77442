"""Hardening over real sockets: resume after a slow close with default settings, rewind and reset,
same-origin by default, security headers, token rules, protected status routes, and random frames."""

from __future__ import annotations

import json
import logging

import aiohttp
import jwt
import pytest
from gateway_helpers import Reader, make_bus, signal, start_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gateway_slow import PAD, stalled_client

from rxstream.errors import ConfigError
from rxstream.gateway.app import BROADCASTER, create_app
from rxstream.gateway.auth import TokenAuth
from rxstream.settings import Settings

SECRET = "a-test-secret-that-is-32-bytes-long!"


async def test_default_settings_a_stalled_reader_closed_as_slow_resumes_recovered_with_no_gap(
        aiohttp_server, caplog) -> None:
    defaults = Settings()
    bus = make_bus(history=defaults.history_size)
    server = await start_server(aiohttp_server, bus, inbound_rate=1e4, inbound_burst=10_000)
    broadcaster = server.app[BROADCASTER]
    stalled_session, stalled = await stalled_client(server.make_url("/ws"))
    caplog.set_level(logging.INFO, logger="rxstream.gateway.slow")
    async with stalled_session, aiohttp.ClientSession() as session:
        await stalled.send_json({"type": "subscribe", "topics": ["signals"]})
        probe = Reader(await session.ws_connect(server.make_url("/ws")))
        await probe.next()
        n = 0
        while len(broadcaster.channels) == 2 and n < 20_000:
            for _ in range(20):
                n += 1
                bus.publish("signals", signal(n, reason=PAD))
            await probe.drain()  # one loop turn of writes per round, as on a live server
        assert len(broadcaster.channels) == 1, "the stalled reader was never closed"
        [record] = [r for r in caplog.records if "closed as slow" in r.getMessage()]
        assert record.levelno == logging.INFO and "signals" in record.getMessage()
        reader = Reader(stalled)
        welcome = await reader.next()
        assert welcome["connection_id"] in record.getMessage()
        last = 0
        try:
            while True:
                msg = await reader.next(timeout=10)
                if msg["type"] == "data":
                    assert msg["seq"] == last + 1
                    last = msg["seq"]
        except ConnectionError:
            assert reader.close_code == 4008
        ws = await session.ws_connect(server.make_url("/ws"))
        again = Reader(ws)
        await again.next()
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": welcome["epoch"],
                            "since": {"signals": last}})
        subscribed = await again.until("subscribed")
        assert subscribed["recovered"] is True and subscribed["reset"] is False
        missed = await again.take(n - last, timeout=10)
        assert [m["seq"] for m in missed] == list(range(last + 1, n + 1))


async def test_rewind_replays_the_last_messages_and_reset_says_when_to_discard(aiohttp_server) -> None:
    bus = make_bus(history=20)
    server = await start_server(aiohttp_server, bus)
    for n in range(1, 31):
        bus.publish("signals", signal(n))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        epoch = (await reader.next())["epoch"]
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "rewind": {"count": 5}})
        sub = await reader.until("subscribed")
        assert sub["reset"] is False and "recovered" not in sub
        assert [m["seq"] for m in await reader.take(5)] == [26, 27, 28, 29, 30]
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "rewind": {"seconds": 3600}})
        await reader.until("subscribed")
        assert [m["seq"] for m in await reader.take(20)] == list(range(11, 31))  # never past the history
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "epoch": "another", "since": {"signals": 3}})
        sub = await reader.until("subscribed")
        assert sub["recovered"] is False and sub["reset"] is True
        assert [i["seq"] for i in (await reader.until("snapshot"))["items"]] == list(range(11, 31))
        await ws.send_json({"type": "subscribe", "topics": ["price_updates"], "epoch": epoch})
        assert (await reader.until("subscribed"))["reset"] is False  # same epoch: the snapshot merges
        await ws.send_json({"type": "subscribe", "topics": ["price_updates"], "epoch": "another"})
        assert (await reader.until("subscribed"))["reset"] is True  # another numbering: discard and reload
        await ws.send_json({"type": "subscribe", "topics": ["signals"], "rewind": {"count": 0}})
        assert (await reader.until("error"))["field"] == "rewind"


async def test_other_origins_are_refused_by_default_and_the_own_origin_and_programs_connect(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus())
    own = f"http://{server.host}:{server.port}"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.make_url("/ws"), headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        for headers in ({"Origin": own}, {}):
            ws = await session.ws_connect(server.make_url("/ws"), headers=headers)
            assert (await Reader(ws).next())["type"] == "welcome"
            await ws.close()
    wide = await start_server(aiohttp_server, make_bus(), allowed_origins=("*",))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(wide.make_url("/ws"), headers={"Origin": "https://evil.example"})
        assert (await Reader(ws).next())["type"] == "welcome"
        await ws.close()


async def test_pages_and_status_send_security_headers(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus())
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/websocket/status", "/metrics", "/static/main.js"):
            async with session.get(server.make_url(path)) as response:
                assert response.status == 200, path
                assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert response.headers["X-Frame-Options"] == "DENY"


def test_token_with_an_infinite_or_nan_expiry_is_refused() -> None:
    auth = TokenAuth(SECRET)
    for exp in (float("inf"), float("nan"), True):
        token = jwt.encode({"exp": exp}, SECRET, algorithm="HS256")
        with pytest.raises(Exception) as error:
            auth.verify(token)
        assert getattr(error.value, "code", None) == "invalid_token", exp


def test_short_secrets_are_refused_at_startup_and_a_secret_file_is_read(tmp_path) -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(Settings(auth_secret="too-short"), backend=_backend())
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    app = create_app(Settings(auth_secret_file=str(secret_file)), backend=_backend())
    assert app is not None
    with pytest.raises(ConfigError, match="auth_secret_file"):
        create_app(Settings(auth_secret_file=str(tmp_path / "missing")), backend=_backend())
    with pytest.raises(ConfigError, match="protect_status"):
        create_app(Settings(protect_status=True), backend=_backend())


def _backend():
    from rxstream.gateway.app import StaticBackend

    return StaticBackend(make_bus())


async def test_a_refused_token_refresh_closes_4001_as_documented(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), auth_secret=SECRET)
    token = TokenAuth(SECRET).issue(ttl=60)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url(f"/ws?token={token}"))
        reader = Reader(ws)
        await reader.next()
        await ws.send_json({"type": "auth", "token": "garbage", "id": 3})
        error = await reader.until("error")
        assert error["code"] == "invalid_token" and error["id"] == 3
        assert await reader.closed() == 4001


async def test_protect_status_guards_status_and_metrics_with_a_token(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus(), auth_secret=SECRET, protect_status=True)
    token = TokenAuth(SECRET).issue(ttl=60)
    async with aiohttp.ClientSession() as session:
        for path in ("/websocket/status", "/metrics"):
            async with session.get(server.make_url(path)) as response:
                assert response.status == 401, path
            async with session.get(server.make_url(path), headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200, path
        async with session.get(server.make_url("/")) as response:
            assert response.status == 200  # the page itself holds no data


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([1e-300, 1e300, -0.0, 2**53 + 1, "signals", ["signals"], {"count": 10**9}, {"seconds": 1e308}]),
)
_frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["subscribe", "unsubscribe", "ping", "auth", "x"])},
        optional={k: _values for k in ("topics", "symbols", "max_rate", "epoch", "since", "rewind", "id", "token")},
    ).map(lambda d: json.dumps(d, allow_nan=True)),
    st.text(max_size=40),
)


def random_frames(total: int) -> list[str]:
    """At least ``total`` frames drawn by hypothesis (which explores the edges: huge, tiny, NaN, wrong types)."""
    frames: list[str] = []

    @settings(max_examples=total // 50, suppress_health_check=list(HealthCheck), deadline=None, database=None)
    @given(st.lists(_frames, min_size=50, max_size=60))
    def collect(batch: list[str]) -> None:
        frames.extend(batch)

    collect()
    return frames


async def test_ten_thousand_random_frames_raise_nothing_and_the_server_keeps_serving(aiohttp_server, caplog) -> None:
    batch = random_frames(10_000)
    assert len(batch) >= 10_000
    bus = make_bus()
    server = await start_server(aiohttp_server, bus, inbound_rate=1e6, inbound_burst=100_000)
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        for frame in batch:
            await ws.send_str(frame)
        await ws.send_json({"type": "ping", "id": "end"})
        await reader.until("pong", timeout=60, id="end")
        await ws.close()
        fresh = Reader(await session.ws_connect(server.make_url("/ws")))
        assert (await fresh.next())["type"] == "welcome"
        await fresh.ws.send_json({"type": "subscribe", "topics": ["signals"]})
        await fresh.until("subscribed")
        bus.publish("signals", signal(1))
        assert (await fresh.until("data"))["seq"] == 1
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], "an exception was logged"


async def test_binary_frames_are_read_as_json_and_invalid_utf8_text_closes_1007(aiohttp_server) -> None:
    server = await start_server(aiohttp_server, make_bus())
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/ws"))
        reader = Reader(ws)
        await reader.next()
        await ws.send_bytes(b'{"type":"ping","id":"bin"}')
        assert await reader.until("pong") == {"type": "pong", "id": "bin"}
        await ws.send_bytes(b"\xff\xfe")
        assert (await reader.until("error"))["code"] == "invalid_json"
        await ws.send_frame(b'{"type":"ping"}\xff', aiohttp.WSMsgType.TEXT)
        assert await reader.closed() == 1007
