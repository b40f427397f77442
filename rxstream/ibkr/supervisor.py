"""The IBKR connection supervisor: the one task that connects, cycles client ids, backs off, and beats.

One supervisor per feed is the only code that ever connects, so two reconnect
loops can never race. It loops: connect → set up (the ``setup`` coroutine it
is handed: qualify, subscribe, recover fills) → wait for the disconnect →
back off → connect again.

* **client id 326**: an id still held by a crashed session makes it try the
  next id of ``config.client_ids`` at once, backing off only after a full
  cycle; after a disconnect it starts with the id that worked last;
* **backoff**: :class:`rxstream.operators.Backoff` from the config, with jitter;
  every attempt after the first is a recovery attempt on every stream;
* **a dead link that looks alive**: a CURRENT_TIME round trip every
  ``heartbeat_interval`` proves the link (and keeps quiet streams fresh); no
  answer within ``connect_timeout`` drops the connection, which reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import SourceConnectionError
from ..operators import Backoff
from .api import IB
from .config import IBKRConfig
from .errorcodes import ERROR_CODES, Effect, ErrorPolicy
from .streams import FeedHealth

__all__ = ["ConnectionSupervisor", "FeedState", "close_socket"]

log = logging.getLogger(__name__)


class FeedState(enum.Enum):
    """Where the feed's connection is."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    """Waiting before the next connect attempt."""
    STOPPED = "stopped"


class _ClientIdInUse(Exception):
    def __init__(self, client_id: int) -> None:
        super().__init__(f"client id {client_id} is already in use (TWS error 326)")
        self.client_id = client_id


class ConnectionSupervisor:
    """Keeps ``ib`` connected to ``config``'s address.

    Args:
        ib: the broker library's client.
        config: address, client ids, timeouts, backoff and heartbeat.
        health: the feed's health streams (errors and recovery attempts recorded there).
        policy: the TWS link state: reset at each connect; a heartbeat proves quiet
            streams alive only while it says the IB link is up.
        setup: awaited after each connect (qualify, subscribe, recover fills); a
            ``TimeoutError``/``ConnectionError`` from it drops the connection.
        changed: called after every change of :attr:`state` (the feed re-shows health).
        rng: the backoff's jitter source (tests pass a seeded one).

    Attributes:
        state: a :class:`FeedState`.
        client_id: the client id of the current (or last) connection.
        down_reason: why the connection is not up (``None`` while connected).
        connections, disconnects, recovery_attempts: counters.
    """

    def __init__(
        self,
        ib: IB,
        config: IBKRConfig,
        *,
        health: FeedHealth,
        policy: ErrorPolicy,
        setup: Callable[[], Awaitable[None]],
        changed: Callable[[], None],
        rng: random.Random | None = None,
    ) -> None:
        self._ib = ib
        self._config = config
        self._health = health
        self._policy = policy
        self._setup = setup
        self._changed = changed
        self._backoff: Backoff = config.backoff(rng=rng)
        self.state = FeedState.IDLE
        self.client_id = config.client_id
        self.down_reason: str | None = f"not connected to {config.address}"
        self.connections = 0
        self.disconnects = 0
        self.recovery_attempts = 0
        self._lost = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ConnectionSupervisor({self._config.address}, state={self.state.value}, client_id={self.client_id})"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        """Start supervising (returns at once); listens to the client's disconnects."""
        self._ib.disconnectedEvent += self._on_disconnected
        self._task = loop.create_task(self._supervise(), name=f"{name} connection supervisor")

    async def stop(self) -> None:
        """Stop reconnecting and close the socket."""
        self._stopping = True
        self._lost.set()  # wakes the supervisor even if a cancellation were swallowed
        tasks = [t for t in (self._task, self._heartbeat) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ib.disconnectedEvent -= self._on_disconnected
        await close_socket(self._ib)
        self.down_reason = "feed stopped"
        self._set_state(FeedState.STOPPED)

    @property
    def connected(self) -> bool:
        return self.state is FeedState.CONNECTED

    def _set_state(self, state: FeedState) -> None:
        self.state = state
        if state is FeedState.CONNECTED:
            self.down_reason = None
        self._changed()

    # --- the loop: the one place that connects -----------------------------------------

    async def _supervise(self) -> None:
        cfg = self._config
        ids = cfg.client_ids
        index = failures = ids_tried = 0
        first = True
        while not self._stopping:
            if not first:
                self.recovery_attempts += 1
                self._health.recovery_attempt()
            first = False
            self._set_state(FeedState.CONNECTING)
            try:
                await self._connect(ids[index])
            except _ClientIdInUse as exc:
                error = SourceConnectionError(cfg.host, cfg.port, str(exc))
                index = (index + 1) % len(ids)
                ids_tried += 1
                if ids_tried < len(ids):
                    log.warning("%s; trying client id %d", error, ids[index])
                    self._record_error(error)
                    continue
                ids_tried = 0
            except (TimeoutError, OSError, ConnectionError) as exc:
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, asyncio.TimeoutError):
                    reason = f"no API handshake within {cfg.connect_timeout:g} s"
                error = SourceConnectionError(cfg.host, cfg.port, reason)
            else:
                failures = ids_tried = 0
                await self._lost.wait()
                if self._stopping:
                    return
                delay = self._backoff.delay(1)
                log.warning("IBKR %s: disconnected; reconnecting in %.2f s", cfg.address, delay)
                self._set_state(FeedState.BACKOFF)
                await asyncio.sleep(delay)
                continue
            failures += 1
            delay = self._backoff.delay(failures)
            log.warning("IBKR: %s; retrying in %.2f s (attempt %d)", error, delay, failures)
            self._record_error(error)
            self._set_state(FeedState.BACKOFF)
            await asyncio.sleep(delay)

    def _record_error(self, error: Exception) -> None:
        self.down_reason = str(error)
        self._health.error(str(error))
        self._changed()

    async def _connect(self, client_id: int) -> None:
        cfg = self._config
        ib = self._ib
        await close_socket(self._ib)
        loop = asyncio.get_running_loop()
        failed: asyncio.Future[None] = loop.create_future()

        def fail(exc: Exception) -> None:
            if not failed.done():
                failed.set_exception(exc)

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            if ERROR_CODES.get(code) is Effect.CLIENT_ID_IN_USE:
                fail(_ClientIdInUse(client_id))

        def on_api_error(message: str) -> None:
            fail(ConnectionError(message))

        def on_socket_closed(message: str) -> None:
            fail(ConnectionError(message or "TWS closed the connection during the handshake"))

        ib.errorEvent += on_error
        ib.client.apiError += on_api_error
        ib.client.conn.disconnected += on_socket_closed
        self._lost.clear()
        connecting = loop.create_task(
            ib.connectAsync(
                cfg.host, cfg.port, clientId=client_id, timeout=cfg.connect_timeout, readonly=cfg.readonly,
                account=cfg.account,
            )
        )
        try:
            done, _ = await asyncio.wait({connecting, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ib.errorEvent -= on_error
            ib.client.apiError -= on_api_error
            ib.client.conn.disconnected -= on_socket_closed
            if not connecting.done():
                connecting.cancel()
                await asyncio.gather(connecting, return_exceptions=True)
        if connecting in done and not failed.done():
            connecting.result()
        else:
            if not connecting.cancelled() and connecting.done():
                connecting.exception()  # retrieved: the handshake failure below says it better
            await close_socket(self._ib)
            failed.result()
        self._on_connected(client_id)
        try:
            await self._setup()
        except (TimeoutError, ConnectionError) as exc:
            log.warning("IBKR %s: setup after connect failed: %s; reconnecting", cfg.address, exc)
            if self.connected:
                ib.disconnect()
        except Exception as exc:  # a bug here must not end the supervisor
            log.exception("IBKR %s: setup after connect failed", cfg.address)
            self._health.ticks_error(f"setup after connect failed: {exc!r}")

    def _on_connected(self, client_id: int) -> None:
        self.client_id = client_id
        self.connections += 1
        self._policy.reset()
        self._set_state(FeedState.CONNECTED)
        self._health.link_alive()  # the link is live: quiet streams are not stale
        log.info("IBKR connected to %s as client %d", self._config.address, client_id)
        if self._config.heartbeat_interval:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    def _on_disconnected(self) -> None:
        if self.state is not FeedState.CONNECTED:
            return
        self.disconnects += 1
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        self.down_reason = f"disconnected from {self._config.address}"
        self._set_state(FeedState.BACKOFF)
        self._lost.set()
        log.warning("IBKR %s: connection lost", self._config.address)

    async def _beat(self) -> None:
        cfg = self._config
        while True:
            await asyncio.sleep(cfg.heartbeat_interval)
            try:
                async with asyncio.timeout(cfg.connect_timeout):
                    await self._ib.reqCurrentTimeAsync()
            except TimeoutError:
                log.warning("IBKR %s: no heartbeat answer in %g s; reconnecting", cfg.address, cfg.connect_timeout)
                self._heartbeat = None
                self._ib.disconnect()
                return
            except ConnectionError:
                return
            if not self._policy.link_lost:
                self._health.link_alive()
            self._changed()


async def close_socket(ib: IB) -> None:
    """Close ``ib``'s socket (if any) and wait until it is really gone (at most 2 s)."""
    conn = ib.client.conn
    if conn.transport is None:
        return
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def closed(message: str) -> None:
        if not gone.done():
            gone.set_result(message)

    conn.disconnected += closed
    try:
        if ib.client.isConnected():
            ib.disconnect()
        else:
            ib.client.disconnect()
        if conn.transport is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await gone
    finally:
        conn.disconnected -= closed
