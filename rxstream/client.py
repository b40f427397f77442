"""A Python client for the rxstream WebSocket: subscribe, reconnect and resume, iterate or observe.

::

    async with StreamClient("http://127.0.0.1:8080/ws", ["price_updates", "signals"]) as client:
        async for message in client:
            if message["type"] == "data":
                print(message["topic"], message["seq"], message["data"])

The client keeps the server's ``epoch`` and the last ``seq`` per topic. After a dropped
connection it reconnects with :class:`rxstream.operators.Backoff` delays and subscribes again
with ``epoch`` + ``since``: on lossless topics it receives every message it missed
(``subscribed`` says ``recovered: true``). When the server cannot recover (a new epoch after a
restart, or a resume point beyond its history), ``subscribed`` says ``reset: true``: discard
what you hold for that topic; the ``snapshot`` that follows is its whole state. The rules are
:class:`rxstream.resume.ResumeState`'s: a message already applied is never yielded twice, and
a fill whose ``exec_id`` you hold is never yielded again.

Yielded messages are the server's ``data``, ``snapshot``, ``subscribed`` and ``error``
messages as dicts (see docs/WEBSOCKET_USAGE.md); :meth:`StreamClient.observable` gives
the same as a reactivex Observable.

Events (yielded): ``data``; ``snapshot`` (its ``items`` are the ones to apply);
``subscribed`` (always with ``reset``: ``True`` means discard the topic's state; with
``recovered`` after a reconnect); ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import orjson
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .errors import AuthError, ClientClosed
from .gateway.protocol import CloseCode, ErrorCode
from .operators import Backoff
from .resume import ResumeState

__all__ = ["DEFAULT_BACKOFF", "ClientClosed", "StreamClient"]

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff(initial=0.25, factor=2.0, maximum=5.0, jitter=0.25)
"""Reconnect delays: 0.25 s doubling to 5 s, ±25 % (the dashboard uses the same)."""

_NO_RETRY = frozenset({CloseCode.UNAUTHORIZED})  # a refused token will be refused again
_AUTH_ERRORS = frozenset({ErrorCode.AUTH_REQUIRED, ErrorCode.INVALID_TOKEN, ErrorCode.TOKEN_EXPIRED})
_STOP = object()


class StreamClient:
    """One logical subscription that survives reconnects.

    Args:
        url: The ``/ws`` URL (``http://`` or ``ws://``).
        topics: Topics to subscribe to.
        symbols: Only these symbols (server-side filter).
        max_rate: At most this many updates per second per key on state topics (server-side).
        token: A JWT, sent as ``Authorization: Bearer``.
        reconnect: Reconnect after a lost connection.
        backoff: Delays between reconnect attempts (default :data:`DEFAULT_BACKOFF`); after a close
            with 1013 (server full) the client waits at least ``backoff.maximum``.
        queue_size: Messages buffered for the reader; when full, the client stops reading the
            socket and the server's slow-consumer policy applies.
        session: An aiohttp session to use (default: its own, closed with the client).

    Attributes:
        state: The :class:`~rxstream.resume.ResumeState`: epoch, last seq per topic, and the
            counts of duplicates dropped, gaps seen and resets.
        connects: Connections made so far.
    """

    def __init__(
        self,
        url: str,
        topics: Sequence[str],
        *,
        symbols: Sequence[str] | None = None,
        max_rate: float | None = None,
        token: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        queue_size: int = 10_000,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.topics = list(topics)
        self.symbols = list(symbols) if symbols is not None else None
        self.max_rate = max_rate
        self.token = token
        self.reconnect = reconnect
        self.backoff = backoff or DEFAULT_BACKOFF
        self.state = ResumeState()
        self.welcome: dict[str, Any] | None = None
        self.connects = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._live = False  # the current connection got subscribed

    @property
    def epoch(self) -> str | None:
        """The server epoch the seqs held are counted in."""
        return self.state.epoch

    @property
    def last_seq(self) -> dict[str, int]:
        """The last seq applied, per topic."""
        return self.state.last_seq

    async def __aenter__(self) -> StreamClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self, timeout: float = 10.0) -> None:
        """Start the connection loop and wait until the first connection is subscribed."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rxstream-client")
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError(f"could not connect to {self.url} in {timeout} s")

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._own_session and self._session is not None:
            await self._session.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one protocol message (e.g. a ``ping``)."""
        if self._ws is None:
            raise ClientClosed(None, "not connected")
        await self._ws.send_str(orjson.dumps(message).decode())

    # --- reading ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.messages()

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Every message, across reconnects, until :meth:`close` or a final close by the server."""
        while True:
            item = await self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message (``TimeoutError`` after ``timeout`` seconds)."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is _STOP:
            raise ClientClosed(None, "closed")
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def observable(self) -> Observable[dict[str, Any]]:
        """The messages as an Observable (subscribe on the client's loop; disposing stops reading)."""

        def subscribe(observer: abc.ObserverBase[dict[str, Any]], scheduler: abc.SchedulerBase | None = None):
            async def pump() -> None:
                try:
                    async for message in self.messages():
                        observer.on_next(message)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    observer.on_error(exc)
                else:
                    observer.on_completed()

            task = asyncio.get_running_loop().create_task(pump())

            def stop() -> None:
                task.cancel()

            return Disposable(stop)

        return reactivex.create(subscribe)

    # --- the connection loop --------------------------------------------------------------

    def _subscribe_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "subscribe", "topics": self.topics}
        if self.symbols is not None:
            message["symbols"] = self.symbols
        if self.max_rate is not None:
            message["max_rate"] = self.max_rate
        message.update(self.state.resume(self.topics) or {})
        return message

    async def _run(self) -> None:
        attempt = 0
        final: BaseException | None = None
        try:
            while not self._closing:
                code: int | None = None
                try:
                    code = await self._connect_once()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.info("rxstream client: %s; retrying", exc)
                except AuthError as exc:
                    final = exc
                    break
                if self._closing:
                    break
                if code in _NO_RETRY or not self.reconnect:
                    final = ClientClosed(code, "closed by the server")
                    break
                attempt = 1 if self._live else attempt + 1  # a connection that got subscribed starts over
                delay = self.backoff.delay(attempt)
                if code == CloseCode.TRY_AGAIN_LATER:
                    delay = max(delay, self.backoff.maximum)
                log.info("rxstream client: connection closed (%s); reconnecting in %.2f s", code, delay)
                await asyncio.sleep(delay)
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(final if final is not None else _STOP)

    async def _connect_once(self) -> int | None:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with self._session.ws_connect(self.url, headers=headers, heartbeat=None) as ws:
            self._ws = ws
            self._live = False
            self.connects += 1
            await ws.send_str(orjson.dumps(self._subscribe_message()).decode())
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = orjson.loads(msg.data)
                for message in frame if isinstance(frame, list) else (frame,):
                    await self._handle(message)
            self._ws = None
            return ws.close_code

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "welcome":
            if self.state.epoch is not None and message["epoch"] != self.state.epoch:
                log.info("rxstream client: the server's epoch changed; its topics will be reset")
            self.welcome = message
            self.state.receive(message)
            return
        if kind == "error":
            self._connected.set()
            if message.get("code") in _AUTH_ERRORS:
                raise AuthError(message["code"], message["message"])
        elif kind == "subscribed":
            reset = any(d.action == "reset" for d in self.state.receive(message))
            message = {**message, "reset": reset}
            if reset and self.state.policies.get(message["topic"]) == "lossless":  # state topics always reload
                log.info("rxstream client: %s reset (recovered: %s)", message["topic"], message.get("recovered"))
            self._live = True
            self._connected.set()
        elif kind == "snapshot":
            decisions = self.state.receive(message)
            message = {**message, "items": [d.message for d in decisions if d.action == "yield"]}
        elif kind == "data":
            decisions = self.state.receive(message)
            for d in decisions:
                if d.action == "gap":
                    log.warning("rxstream client: %d message(s) of %s missing before seq %d",
                                d.value, d.topic, message["seq"])
            if decisions[-1].action != "yield":
                return
        elif kind in ("pong", "unsubscribed", "authenticated"):
            return
        await self._queue.put(message)
