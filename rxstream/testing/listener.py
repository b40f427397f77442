"""The simulator's sockets: listening, one reader task per connection, refusals and stalls.

:class:`Listener` accepts TWS API connections, decodes what each client sends
with the sans-I/O :class:`~rxstream.testing.codec.Decoder`, parses it
(:func:`~rxstream.testing.requests.parse_request`) and hands it to the
:class:`~rxstream.testing.handlers.Handlers`. It can stop listening for a
while, close the next N connections at once, and hold every connection's
requests unread while a stall lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ..errors import ProtocolError, UsageError
from .codec import Decoder, Handshake
from .handlers import Handlers
from .requests import parse_request
from .session import Session

__all__ = ["Listener"]

log = logging.getLogger("rxstream.testing.server")


class Listener:
    """Serves ``handlers`` on ``host:port``; ``notify`` is called after every change of state."""

    def __init__(
        self, host: str, port: int, handlers: Handlers, notify: Callable[[], None], running: asyncio.Event
    ) -> None:
        self.host = host
        self._requested_port = port
        self._handlers = handlers
        self._notify = notify
        self._running = running
        self._server: asyncio.Server | None = None
        self._port = 0
        self._refuse_times = 0
        self._refuse_handle: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        """The connection tasks (and any spawned by :meth:`spawn`) still running."""
        self.connections = 0
        self.refused = 0
        self.stalled_reads = 0
        """Reads that arrived while stalled (held unanswered until the stall ends)."""

    @property
    def port(self) -> int:
        """The port listened on (known after :meth:`start`)."""
        return self._port

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted at the TCP level now."""
        return self._server is not None

    async def start(self) -> None:
        """Listen on the requested port (0: a free one)."""
        if self._server is not None:
            raise UsageError("TWS simulator", "already started")
        await self._listen(self._requested_port)

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("TWS simulator listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Stop listening and close every connection; returns once their tasks have ended."""
        if self._refuse_handle is not None:
            self._refuse_handle.cancel()
            self._refuse_handle = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop()
        # connection handlers end by themselves once their socket is closed (cancelling them
        # would make asyncio's stream callback log the cancellation as an error)
        tasks = list(self.tasks)
        _, pending = await asyncio.wait(tasks, timeout=2.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that :meth:`stop` waits for."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def drop(self) -> int:
        """Close every client connection; returns how many were open."""
        count = 0
        for session in list(self._handlers.sessions):
            if not session.writer.is_closing():
                session.writer.close()
                count += 1
        return count

    def refuse(self, *, times: int | None = None, seconds: float | None = None) -> None:
        """Accept the next ``times`` connections and close them at once, and/or stop listening for
        ``seconds`` (connects fail with ECONNREFUSED), then listen on the same port again; a refusal
        during another ends ``seconds`` from now."""
        if times is not None:
            self._refuse_times = times
        if seconds is not None:
            if self._refuse_handle is not None:  # already refusing: the new refusal decides when it ends
                self._refuse_handle.cancel()
            elif self._server is None:
                raise UsageError("TWS simulator", "refuse_connections(seconds=...) needs it started and listening")
            else:
                self._server.close()
                self._server = None
            loop = asyncio.get_running_loop()
            self._refuse_handle = loop.call_later(seconds, lambda: self.spawn(self._relisten()))

    async def _relisten(self) -> None:
        self._refuse_handle = None
        await self._listen(self._port)
        self._notify()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if self._refuse_times > 0:
            self._refuse_times -= 1
            self.refused += 1
            writer.transport.abort()
            self._notify()
            return
        self.connections += 1
        session = Session(writer)
        sessions = self._handlers.sessions
        sessions.append(session)
        self._notify()
        decoder = Decoder()
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                if not self._running.is_set():  # stalled: the request waits unanswered
                    self.stalled_reads += 1
                    self._notify()
                    await self._running.wait()
                decoder.receive_data(data)
                for event in decoder.events_received():
                    self._receive(session, event)
                    if writer.is_closing():
                        break
        except ProtocolError as exc:
            log.warning("TWS simulator: closing a client that broke the protocol: %s", exc)
        except ConnectionError:
            pass
        finally:
            sessions.remove(session)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._notify()

    def _receive(self, session: Session, event: Handshake | list[str]) -> None:
        if isinstance(event, Handshake):
            self._handlers.handshake(session, event)
        elif event:
            self._handlers.handle(session, parse_request(event))
            self._notify()
