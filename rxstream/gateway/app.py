"""The aiohttp application: ``/ws``, ``/websocket/status``, ``/metrics`` and ``/``.

Resources live in cleanup contexts, started in order before the server accepts a
connection and closed in reverse: the backend (the engine: sources, pipelines, bus,
health), then the broadcaster subscribed to its bus. On shutdown every client gets
close 1001 (``on_shutdown``), then the broadcaster leaves the bus and the engine
stops its streams and unregisters its callbacks.

State is reached only through the typed keys below; there is no module-level instance.

>>> from rxstream.bus import InMemoryBus
>>> app = create_app(Settings(), backend=StaticBackend(InMemoryBus()))
>>> routes = {r.resource.canonical for r in app.router.routes()}
>>> sorted(routes & {'/', '/metrics', '/websocket/status', '/ws'})
['/', '/metrics', '/websocket/status', '/ws']
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from reactivex.abc import SchedulerBase
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ..addresses import bind_listening
from ..backend import STATUS_PIPELINE_SETTINGS, Backend, StaticBackend
from ..bus import Bus
from ..errors import AuthError, ConfigError
from ..events import dumps
from ..settings import Settings
from ..shutdown import quiet_cancelled_connect
from .auth import OriginPolicy, TokenAuth, load_secret, security_headers
from .broadcaster import Broadcaster
from .heartbeat import Heartbeat
from .metrics import CONTENT_TYPE, GatewayMetrics
from .protocol import Connection, ConnectionState, Limits
from .sink import Framer, WebSocketSink

__all__ = [
    "BACKEND",
    "BROADCASTER",
    "METRICS",
    "SETTINGS",
    "Backend",
    "StaticBackend",
    "create_app",
    "limits_from",
    "run",
]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


SETTINGS = web.AppKey("rxstream_settings", Settings)
BACKEND = web.AppKey("rxstream_backend", object)
"""The :class:`~rxstream.backend.Backend` the app serves from (built by :mod:`rxstream.wiring`, or given)."""
BROADCASTER = web.AppKey("rxstream_broadcaster", Broadcaster)
METRICS = web.AppKey("rxstream_metrics", GatewayMetrics)
TOKEN_AUTH = web.AppKey("rxstream_token_auth", TokenAuth)
ORIGINS = web.AppKey("rxstream_origin_policy", OriginPolicy)
STARTED = web.AppKey("rxstream_started_at", dict)
FRAMER = web.AppKey("rxstream_framer", Framer)
"""Frames the bytes every client at the same place is sent, once for all of them (:class:`Framer`)."""


def limits_from(settings: Settings) -> Limits:
    """The per-connection limits a :class:`Settings` asks for."""
    return Limits(
        max_frame_size=settings.max_frame_size,
        max_messages_per_frame=settings.max_messages_per_frame,
        inbound_rate=settings.inbound_rate,
        inbound_burst=settings.inbound_burst,
        queue_limit=settings.queue_limit,
        max_batch=settings.max_batch,
        ping_interval=settings.ping_interval,
    )


# --- cleanup contexts: one per resource ---------------------------------------------------


async def _backend_ctx(app: web.Application) -> AsyncIterator[None]:
    backend: Backend = app[BACKEND]  # type: ignore[assignment]
    async with backend:
        app[STARTED]["at"] = time.time()
        yield


async def _broadcaster_ctx(app: web.Application) -> AsyncIterator[None]:
    broadcaster = app[BROADCASTER]
    backend: Backend = app[BACKEND]  # type: ignore[assignment]
    if broadcaster.scheduler is None:
        broadcaster.scheduler = backend.scheduler or AsyncIOScheduler(asyncio.get_running_loop())
    broadcaster.start()
    metrics = app[METRICS]
    heartbeat = Heartbeat(app[SETTINGS].ping_interval, lambda: broadcaster.channels.values(),
                          on_drop=lambda _channel: metrics.disconnects_total.labels("heartbeat").inc())
    heartbeat.start(asyncio.get_running_loop())
    yield
    heartbeat.stop()
    await broadcaster.stop()


async def _close_clients(app: web.Application) -> None:
    await app[BROADCASTER].stop("server shutting down")


# --- routes -------------------------------------------------------------------------------

def _token(request: web.Request) -> str | None:
    token = request.query.get("token")
    if token:
        return token
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: the WebSocket endpoint (protocol in docs/WEBSOCKET_USAGE.md)."""
    app = request.app
    settings, broadcaster, metrics = app[SETTINGS], app[BROADCASTER], app[METRICS]
    origin = request.headers.get("Origin")
    if not app[ORIGINS].allows(origin, request.host):
        metrics.rejected_total.labels("origin").inc()
        raise web.HTTPForbidden(text=f"origin {origin!r} is not allowed to connect")
    ws = web.WebSocketResponse(
        heartbeat=None,  # one Heartbeat for every connection instead of a timer each
        autoping=False,  # pings are answered below; pongs are signs of life for the Heartbeat
        max_msg_size=settings.max_frame_size * 4,
        compress=False,  # one shared serialization per message; per-client deflate would undo it
        timeout=settings.close_timeout,
    )
    writer = await ws.prepare(request)
    loop = asyncio.get_running_loop()
    bus = broadcaster.bus
    auth = app.get(TOKEN_AUTH)
    connection = Connection(
        secrets.token_hex(6),
        epoch=bus.epoch,
        topics=app[TOPICS].policies(bus),
        limits=broadcaster.limits,
        verify=auth.verify if auth is not None else None,
        now=loop.time(),
    )
    sink = WebSocketSink(ws, request, writer, app[FRAMER])
    refusal = []
    if len(broadcaster.channels) >= settings.max_connections:
        metrics.rejected_total.labels("max_connections").inc()
        refusal = connection.refuse_full(settings.max_connections)
    elif auth is not None:
        try:
            connection.grant = auth.verify(_token(request))
        except AuthError as exc:
            metrics.rejected_total.labels(exc.code).inc()
            refusal = connection.refuse_token(exc)
    if refusal:
        refused = broadcaster.refuse(connection, sink, refusal)
        async for _ in ws:  # until the closing handshake completes
            pass
        refused.finish()
        return ws
    channel = broadcaster.connect(connection, sink)
    channel.heard = loop.time()
    expiry: asyncio.TimerHandle | None = None

    def check_expiry() -> None:
        nonlocal expiry
        events = connection.check_expiry(time.time())
        if events:
            broadcaster.execute(channel, events)
        elif connection.grant is not None and connection.grant.expires_at is not None:
            expiry = loop.call_later(max(0.05, connection.grant.expires_at - time.time()), check_expiry)

    if connection.grant is not None and connection.grant.expires_at is not None:
        expiry = loop.call_later(max(0.0, connection.grant.expires_at - time.time()), check_expiry)
    try:
        async for msg in ws:
            channel.heard = loop.time()
            if msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                metrics.inbound_messages.inc()
                broadcaster.execute(channel, connection.receive(msg.data, loop.time()))
                if connection.state is not ConnectionState.OPEN:
                    break
            elif msg.type is WSMsgType.ERROR:
                log.info("connection %s: %s", channel.id, ws.exception())
                break
        if connection.closing is not None:
            await asyncio.wait_for(channel.wait_closed(), settings.close_timeout + 1)
    except TimeoutError:
        log.info("connection %s: close did not finish in time", channel.id)
    finally:
        if expiry is not None:
            expiry.cancel()
        broadcaster.disconnect(channel)
    return ws


def _gauges(app: web.Application) -> dict[str, Any]:
    broadcaster = app[BROADCASTER]
    backend: Backend = app[BACKEND]  # type: ignore[assignment]
    stats = broadcaster.stats()
    bus = broadcaster.bus
    return {
        "active_connections": stats["active_connections"],
        "queued_messages": stats["queued_messages"],
        "max_queue_depth": stats["max_queue_depth"],
        "topic_seq": {name: bus.last_seq(name) for name in bus.topics},
        "stream_health": backend.health.snapshot() if backend.health is not None else {},
        "subscribers": stats["subscribers"],
    }


def _guard(request: web.Request) -> None:
    """With ``protect_status``, the status and metrics routes need a valid token, as ``/ws`` does."""
    auth = request.app.get(TOKEN_AUTH)
    if request.app[SETTINGS].protect_status and auth is not None:
        try:
            auth.verify(_token(request))
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=f"{exc.code}: {exc.message}",
                                       headers={"WWW-Authenticate": "Bearer"}) from None


async def status(request: web.Request) -> web.Response:
    """``GET /websocket/status``: the status document (docs/operations.md) with live stream health."""
    _guard(request)
    app = request.app
    settings, broadcaster = app[SETTINGS], app[BROADCASTER]
    backend: Backend = app[BACKEND]  # type: ignore[assignment]
    gauges = _gauges(app)
    health = gauges["stream_health"]
    bus = broadcaster.bus
    started = app[STARTED].get("at")
    body = {
        "enabled": True,
        "active_connections": gauges["active_connections"],
        "max_connections": settings.max_connections,
        "ping_interval": settings.ping_interval,
        **{name: backend.pipeline_settings.get(name) for name in STATUS_PIPELINE_SETTINGS},
        "stream_health": health,
        "healthy": all(s["is_healthy"] for s in health.values()),
        "epoch": bus.epoch,
        "topics": {
            name: {
                "policy": spec.policy,
                "history": spec.history,
                "last_seq": gauges["topic_seq"][name],
                "subscribers": gauges["subscribers"].get(name, 0),
            }
            for name, spec in bus.topics.items()
        },
        "queued_messages": gauges["queued_messages"],
        "max_queue_depth": gauges["max_queue_depth"],
        "uptime_seconds": round(time.time() - started, 3) if started else 0.0,
        "limits": broadcaster.limits.to_dict(),
        "auth_enabled": app.get(TOKEN_AUTH) is not None,
        "origin_allowlist": bool(settings.allowed_origins),
    }
    return web.Response(body=dumps(body), content_type="application/json")


async def metrics_route(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text."""
    _guard(request)
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


_PLACEHOLDER = b"""<!doctype html><html><head><meta charset="utf-8"><title>rxstream</title></head>
<body><h1>rxstream</h1><p>The dashboard is not installed. The WebSocket is at <code>/ws</code>,
the status at <a href="/websocket/status">/websocket/status</a>, metrics at <a href="/metrics">/metrics</a>.</p>
</body></html>"""


async def index(request: web.Request) -> web.StreamResponse:
    """``GET /``: the dashboard (``gateway/static/index.html``) or a placeholder."""
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return web.FileResponse(page)
    return web.Response(body=_PLACEHOLDER, content_type="text/html")


class _Topics:
    """The ``{topic: policy}`` map every connection shares, rebuilt only when the bus's topics change."""

    __slots__ = ("_count", "_policies")

    def __init__(self) -> None:
        self._count = -1
        self._policies: dict[str, str] = {}

    def policies(self, bus: Bus) -> dict[str, str]:
        topics = bus.topics
        if len(topics) != self._count:
            self._policies = {name: spec.policy for name, spec in topics.items()}
            self._count = len(topics)
        return self._policies


TOPICS = web.AppKey("rxstream_topic_policies", _Topics)


# --- the factory -----------------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    *,
    backend: Backend,
    scheduler: SchedulerBase | None = None,
) -> web.Application:
    """The gateway app serving ``backend`` (see :mod:`rxstream.wiring`); ``scheduler`` (the clock of
    ``max_rate``) defaults to the backend's, else the running loop's. Bad settings raise
    :class:`~rxstream.errors.ConfigError` here, before anything listens."""
    settings = settings or Settings()
    secret = load_secret(settings.auth_secret, settings.auth_secret_file)
    token_auth = TokenAuth(secret, algorithm=settings.auth_algorithm) if secret is not None else None
    if settings.protect_status and token_auth is None:
        raise ConfigError("protect_status", "needs auth_secret or auth_secret_file: the routes are guarded by tokens")
    app = web.Application()
    app[SETTINGS] = settings
    app[BACKEND] = backend
    app[METRICS] = metrics = GatewayMetrics()
    app[BROADCASTER] = Broadcaster(
        backend.bus,
        scheduler=scheduler,  # None: the backend's or the loop's, set at startup
        limits=limits_from(settings),
        metrics=metrics,
        close_timeout=settings.close_timeout,
    )
    metrics.watch(lambda: _gauges(app))
    app[ORIGINS] = OriginPolicy(settings.allowed_origins)
    app[TOPICS] = _Topics()
    app[STARTED] = {}
    app[FRAMER] = Framer()
    if token_auth is not None:
        app[TOKEN_AUTH] = token_auth
    app.cleanup_ctx.append(_backend_ctx)
    app.cleanup_ctx.append(_broadcaster_ctx)
    app.on_shutdown.append(_close_clients)
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/websocket/status", status)
    app.router.add_get("/metrics", metrics_route)
    app.router.add_get("/", index)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR)
    return app


class _AccessLogger(AbstractAccessLogger):
    """Logs requests without their query string, where a ``?token=`` would otherwise be written."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


def run(settings: Settings, app: web.Application) -> None:
    """Serve ``app`` on ``settings.host``:``settings.port`` until interrupted; ``rxstream serve``."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sockets = bind_listening(settings.host, settings.port)  # a busy port: one ConfigError, before the engine starts
    port = sockets[0].getsockname()[1]

    def listening(_banner: str) -> None:  # run_app calls this once the socket is bound
        log.info("rxstream serving on http://%s:%d (WebSocket at /ws)", settings.host, port)

    with quiet_cancelled_connect():  # a broker connect cut short by Ctrl-C is our stop, not an error
        web.run_app(
            app, sock=sockets, print=listening,
            shutdown_timeout=settings.close_timeout, access_log_class=_AccessLogger,
        )

