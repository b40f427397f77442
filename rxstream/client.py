"""A Python client for the rxstream WebSocket: subscribe, reconnect and resume, iterate or observe.

::

    async with StreamClient("http://127.0.0.1:8080/ws", ["price_updates", "signals"]) as client:
        async for message in client:
            if message["type"] == "data":
                print(message["topic"], message["seq"], message["data"])

The client keeps the server's ``epoch`` and the last ``seq`` per topic. After a dropped
connection it reconnects with exponential backoff and subscribes again with
``epoch`` + ``since``: on lossless topics it receives every message it missed
(``subscribed`` says ``recovered: true``), or a snapshot when the server could not
recover (``recovered: false``). Messages it has already seen are never yielded twice.

Yielded messages are the server's ``data``, ``snapshot``, ``subscribed`` and ``error``
messages as dicts (see docs/WEBSOCKET_USAGE.md); :meth:`StreamClient.observable` gives
the same as a reactivex Observable.

Events (yielded): ``data``, ``snapshot``, ``subscribed`` (with ``recovered`` after a
reconnect), ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import orjson
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .errors import AuthError, RxstreamError

__all__ = ["ClientClosed", "StreamClient"]

log = logging.getLogger(__name__)

_NO_RETRY = {4001}  # a refused token will be refused again
_STOP = object()


class ClientClosed(RxstreamError):
    """The client stopped for good: closed by you, or by the server with a code it should not retry."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed ({code}): {reason}")


class StreamClient:
    """One logical subscription that survives reconnects.

    Args:
        url: The ``/ws`` URL (``http://`` or ``ws://``).
        topics: Topics to subscribe to.
        symbols: Only these symbols (server-side filter).
        max_rate: At most this many updates per second per key on state topics (server-side).
        token: A JWT, sent as ``Authorization: Bearer``.
        reconnect: Reconnect after a lost connection.
        backoff: First and largest delay between reconnects, in seconds (doubling, with jitter).
        queue_size: Messages buffered for the reader; when full, the client stops reading the
            socket and the server's slow-consumer policy applies.
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
        backoff: tuple[float, float] = (0.1, 5.0),
        queue_size: int = 10_000,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.topics = list(topics)
        self.symbols = list(symbols) if symbols is not None else None
        self.max_rate = max_rate
        self.token = token
        self.reconnect = reconnect
        self.backoff = backoff
        self.epoch: str | None = None
        self.last_seq: dict[str, int] = {}
        self.welcome: dict[str, Any] | None = None
        self.connects = 0
        self._policies: dict[str, str] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False

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
        since = {t: s for t, s in self.last_seq.items() if t in self.topics}
        if self.epoch is not None and since:
            message["epoch"] = self.epoch
            message["since"] = since
        return message

    async def _run(self) -> None:
        delay = self.backoff[0]
        final: BaseException | None = None
        try:
            while not self._closing:
                code: int | None = None
                try:
                    code = await self._connect_once()
                    delay = self.backoff[0]
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.info("rxstream client: %s; retrying in %.2f s", exc, delay)
                except AuthError as exc:
                    final = exc
                    break
                if self._closing:
                    break
                if code in _NO_RETRY or not self.reconnect:
                    final = ClientClosed(code, "closed by the server")
                    break
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self.backoff[1])
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(final if final is not None else _STOP)

    async def _connect_once(self) -> int | None:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with self._session.ws_connect(self.url, headers=headers, heartbeat=None) as ws:
            self._ws = ws
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
            if self.epoch is not None and message["epoch"] != self.epoch:
                log.info("rxstream client: the server's epoch changed; seq numbering restarted")
            self.welcome = message
            self._policies = dict(message.get("policies", {}))
            return
        if kind == "error":
            self._connected.set()
            if message.get("code") in ("auth_required", "invalid_token", "token_expired"):
                raise AuthError(message["code"], message["message"])
        if kind == "data":
            topic, seq = message["topic"], message["seq"]
            if message["epoch"] == self.epoch and seq <= self.last_seq.get(topic, 0):
                return  # already seen before a reconnect
            self.epoch = message["epoch"]
            self.last_seq[topic] = seq
        elif kind == "snapshot":
            self.epoch = message["epoch"]
            self.last_seq[message["topic"]] = message["seq"]
        elif kind == "subscribed":
            if message["epoch"] != self.epoch:
                self.last_seq.pop(message["topic"], None)
            self.epoch = message["epoch"]
            self.last_seq.setdefault(message["topic"], message["seq"])
            self._connected.set()
        elif kind == "pong" or kind == "unsubscribed" or kind == "authenticated":
            return
        await self._queue.put(message)
