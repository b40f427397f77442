"""The IBKR feed: a TWS / IB Gateway connection as the engine's ticks, positions and fills.

It uses ib_insync 0.9.86 (or ib_async 2.x installed instead) through
:mod:`rxstream.ibkr.api`, the one module that imports the library.

What it does, in order of what goes wrong most with IBKR integrations:

* **disconnects are failures, never silence**: the moment the socket drops,
  ``<prefix>.ticks``, ``<prefix>.positions`` and ``<prefix>.fills`` are marked
  down in the engine's health monitor with the reason, and one supervisor task
  (the only code that ever connects, so reconnect loops cannot race) reconnects
  with exponential backoff and jitter, counting recovery attempts;
* **client id 326**: an id still held by a crashed session makes the feed try
  the next id of ``config.client_ids`` at once, backing off only after a full
  cycle; after a disconnect it starts with the id that worked last;
* **market data silently dead**: market data is requested again after every
  reconnect, after 1101/1102 (connectivity restored) and after a 2103 → 2104
  farm blip; 1100 and 2103 mark the streams down, 1101/1102 and 2104 up;
* **missed or doubled fills**: after every (re)connect and every 1101/1102
  executions are requested again; fills are published once per exec id
  (remembered in bounded memory), with their commission;
* **a dead link that looks alive**: a CURRENT_TIME round trip every
  ``heartbeat_interval`` proves the link and keeps the quiet positions and
  fills streams from going stale; no answer drops the connection (and reconnects).

Events (pushed into ``engine.sources``):
    ``ticks``: :class:`~rxstream.events.Tick`, one per updated ticker per packet
        (``pendingTickersEvent``), copied at the boundary, timed at arrival;
    ``positions``: :class:`~rxstream.events.PositionUpdate` per ``positionEvent``;
    ``fills``: :class:`~rxstream.events.Fill` per execution, once, with commission.

Callbacks: :meth:`IBKRFeed.add_order_filled_callback` registers a function
called on the loop with each published :class:`~rxstream.events.Fill`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..conditions import Conditions
from ..errors import SourceConnectionError
from ..events import Fill
from .api import IB, Contract, MarketOrder, Position, Ticker, Trade
from .api import CommissionReport as IBCommissionReport
from .api import Fill as IBFill
from .config import IBKRConfig
from .contracts import commission_of, fill_from, position_from, symbol_of, tick_from_ticker, to_contract
from .symbols import parse_symbols

if TYPE_CHECKING:
    from ..feed import FeedContext

__all__ = ["FeedState", "IBKRFeed", "OrderFilledCallback"]

log = logging.getLogger(__name__)

OrderFilledCallback = Callable[[Fill], Any]
"""Called with each published fill; may return an awaitable (it is scheduled as a task)."""

SUPPORTED_IB_INSYNC = "0.9.86"

_FARM_DOWN = 2103
_FARM_UP = (2104, 2108)
_LINK_LOST = 1100
_LINK_RESTORED = (1101, 1102)
_CLIENT_ID_IN_USE = 326
_MARKET_DATA_ERRORS = frozenset({200, 300, 354, 10090, 10167, 10168, 10186, 10197})


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


class IBKRFeed:
    """Feeds an :class:`~rxstream.engine.Engine` from TWS / IB Gateway through ib_insync.

    >>> feed = IBKRFeed(IBKRConfig(host="127.0.0.1", port=7497, symbols=["EURUSD", "AAPL"]))

    Args:
        config: where to connect and what to subscribe to (default: 127.0.0.1:7497, EURUSD).
        name: the feed's name in the engine.
        rng: the jitter's random source (tests pass a seeded one).

    Attributes:
        ib: the ib_insync ``IB`` instance (read it; connecting is the feed's job).
        state: a :class:`FeedState`.
        client_id: the client id of the current (or last) connection.
        connections, disconnects, resubscriptions, recovery_attempts: counters.
    """

    def __init__(
        self, config: IBKRConfig | None = None, *, name: str = "ibkr", rng: random.Random | None = None
    ) -> None:
        self.config = config or IBKRConfig()
        self.name = name
        self.ib = IB()
        self._rng = rng or random.Random()
        self._contracts: dict[str, Contract] = {
            spec.symbol: to_contract(spec) for spec in parse_symbols(self.config.symbols)
        }
        self._symbols: dict[int, str] = {id(c): s for s, c in self._contracts.items()}
        self._active: list[Contract] = list(self._contracts.values())
        self._qualified = False
        prefix = self.config.health_prefix
        self.streams = (f"{prefix}.ticks", f"{prefix}.positions", f"{prefix}.fills")
        """Health stream names: ticks, positions, fills."""
        self.state = FeedState.IDLE
        self.client_id = self.config.client_id
        self.connections = 0
        self.disconnects = 0
        self.resubscriptions = 0
        self.recovery_attempts = 0
        self.published_fills = 0
        self._context: FeedContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hubs: dict[str, Any] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lost = asyncio.Event()
        self._stopping = False
        self._down_reason = f"not connected to {self.config.address}"
        self._link_lost = False
        self._farm_down = False
        self._published: OrderedDict[str, None] = OrderedDict()
        self._pending: dict[str, tuple[asyncio.TimerHandle, IBFill]] = {}
        self._callbacks: list[OrderFilledCallback] = []
        self._conditions = Conditions()

    def __repr__(self) -> str:
        return f"IBKRFeed({self.config.address}, state={self.state.value}, client_id={self.client_id})"

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, ctx: FeedContext) -> None:
        """Register the health streams and start the connection supervisor (returns at once)."""
        if self._context is not None:
            raise RuntimeError(f"feed {self.name} already started")
        self._context = ctx
        self._loop = ctx.loop or asyncio.get_running_loop()
        self._hubs = ctx.sources  # type: ignore[assignment]
        health = ctx.health
        for stream in self.streams:
            health.register(stream)
        self._update_health()
        ib = self.ib
        ib.pendingTickersEvent += self._on_tickers
        ib.positionEvent += self._on_position
        ib.execDetailsEvent += self._on_exec_details
        ib.commissionReportEvent += self._on_commission_report
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        self._supervisor = self._loop.create_task(self._supervise(), name=f"{self.name} connection supervisor")

    async def stop(self) -> None:
        """Stop reconnecting, publish fills still waiting for commission, disconnect, unregister callbacks."""
        if self._context is None or self.state is FeedState.STOPPED:
            return
        self._stopping = True
        self._lost.set()  # wakes the supervisor even if a cancellation were swallowed
        for task in (self._supervisor, self._heartbeat, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._supervisor, self._heartbeat, *self._tasks) if t is not None), return_exceptions=True
        )
        for exec_id in list(self._pending):
            self._commission_timeout(exec_id)
        ib = self.ib
        ib.pendingTickersEvent -= self._on_tickers
        ib.positionEvent -= self._on_position
        ib.execDetailsEvent -= self._on_exec_details
        ib.commissionReportEvent -= self._on_commission_report
        ib.errorEvent -= self._on_error
        ib.disconnectedEvent -= self._on_disconnected
        await self._close_socket()
        self._callbacks.clear()
        self._down_reason = "feed stopped"
        self._set_state(FeedState.STOPPED)
        self._conditions.cancel_all()

    # --- observing ---------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` holds; it is re-checked on every state change, event
        published and error handled. Raises ``TimeoutError`` after ``timeout`` seconds."""
        await self._conditions.wait_for(predicate, timeout)

    def _notify(self) -> None:
        self._conditions.notify()

    def place_market_order(self, symbol: str, side: str, quantity: float) -> int:
        """Send a market order for a configured symbol; returns its order id.

        Its fills come back like any other: on the ``fills`` hub, with their
        commission, and to the order-filled callbacks.

        Raises:
            KeyError: ``symbol`` is not one of the configured symbols.
            SourceConnectionError: the feed is not connected.
        """
        contract = self._contracts[symbol.upper()]
        if side not in ("BUY", "SELL") or not quantity > 0:
            raise ValueError(f"expected side BUY or SELL and a positive quantity, got {side!r} {quantity!r}")
        if not self.ib.isConnected():
            raise SourceConnectionError(self.config.host, self.config.port, "not connected: order not sent")
        trade = self.ib.placeOrder(contract, MarketOrder(side, quantity))
        return int(trade.order.orderId)

    def add_order_filled_callback(self, callback: OrderFilledCallback) -> None:
        """Call ``callback(fill)`` on the loop for every fill published (once per exec id)."""
        self._callbacks.append(callback)

    def remove_order_filled_callback(self, callback: OrderFilledCallback) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    # --- connection supervisor: the one place that connects ---------------------------

    async def _supervise(self) -> None:
        cfg = self.config
        ids = cfg.client_ids
        index = 0
        failures = 0
        ids_tried = 0
        first = True
        while not self._stopping:
            if not first:
                self.recovery_attempts += 1
                for stream in self.streams:
                    self._health.record_recovery_attempt(stream)
            first = False
            client_id = ids[index]
            self._set_state(FeedState.CONNECTING)
            try:
                await self._connect(client_id)
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
                delay = cfg.backoff_delay(0, rng=self._rng)
                log.warning("IBKR %s: disconnected; reconnecting in %.2f s", cfg.address, delay)
                self._set_state(FeedState.BACKOFF)
                await asyncio.sleep(delay)
                continue
            delay = cfg.backoff_delay(failures, rng=self._rng)
            failures += 1
            log.warning("IBKR: %s; retrying in %.2f s (attempt %d)", error, delay, failures)
            self._record_error(error)
            self._set_state(FeedState.BACKOFF)
            await asyncio.sleep(delay)

    def _record_error(self, error: Exception) -> None:
        self._down_reason = str(error)
        for stream in self.streams:
            self._health.record_error(stream, str(error))
        self._update_health()

    async def _connect(self, client_id: int) -> None:
        cfg = self.config
        ib = self.ib
        await self._close_socket()
        loop = asyncio.get_running_loop()
        failed: asyncio.Future[None] = loop.create_future()

        def fail(exc: Exception) -> None:
            if not failed.done():
                failed.set_exception(exc)

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            if code == _CLIENT_ID_IN_USE:
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
            await self._close_socket()
            failed.result()
        self._on_connected(client_id)
        try:
            await self._after_connect()
        except (TimeoutError, ConnectionError) as exc:
            log.warning("IBKR %s: setup after connect failed: %s; reconnecting", cfg.address, exc)
            if self.state is FeedState.CONNECTED:
                self.ib.disconnect()
        except Exception as exc:  # a bug here must not end the supervisor
            log.exception("IBKR %s: setup after connect failed", cfg.address)
            self._health.record_error(self.streams[0], f"setup after connect failed: {exc!r}")

    async def _close_socket(self) -> None:
        """Close the socket (if any) and wait until it is really gone."""
        ib = self.ib
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

    def _on_connected(self, client_id: int) -> None:
        self.client_id = client_id
        self.connections += 1
        self._link_lost = False
        self._farm_down = False
        self._set_state(FeedState.CONNECTED)
        for stream in self.streams[1:]:
            self._health.record_update(stream)  # the link is live: quiet streams are not stale
        log.info("IBKR connected to %s as client %d", self.config.address, client_id)
        if self.config.heartbeat_interval:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _after_connect(self) -> None:
        timeout = self.config.connect_timeout
        if not self._qualified:
            contracts = list(self._contracts.values())
            async with asyncio.timeout(timeout):
                qualified = await self.ib.qualifyContractsAsync(*contracts)
            missing = [symbol_of(c) for c in contracts if c not in qualified]
            for symbol in missing:
                log.error("IBKR %s: no contract found for %s; not subscribing", self.config.address, symbol)
                self._health.record_error(self.streams[0], f"no contract found for {symbol}")
            self._active = [c for c in contracts if c in qualified]
            self._qualified = True
        self._subscribe()
        await self._recover_fills()

    def _on_disconnected(self) -> None:
        if self.state is not FeedState.CONNECTED:
            return
        self.disconnects += 1
        self._down_reason = f"disconnected from {self.config.address}"
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        self._set_state(FeedState.BACKOFF)
        self._lost.set()
        log.warning("IBKR %s: connection lost", self.config.address)

    async def _beat(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.heartbeat_interval)
            try:
                async with asyncio.timeout(cfg.connect_timeout):
                    await self.ib.reqCurrentTimeAsync()
            except TimeoutError:
                log.warning("IBKR %s: no heartbeat answer in %g s; reconnecting", cfg.address, cfg.connect_timeout)
                self._heartbeat = None
                self.ib.disconnect()
                return
            except ConnectionError:
                return
            if not self._link_lost:
                for stream in self.streams[1:]:
                    self._health.record_update(stream)
                self._notify()

    # --- health ------------------------------------------------------------------------

    @property
    def _health(self) -> Any:
        assert self._context is not None
        return self._context.health

    def _set_state(self, state: FeedState) -> None:
        self.state = state
        self._update_health()
        self._notify()

    def _update_health(self) -> None:
        if self._context is None:
            return
        health = self._health
        if self.state is not FeedState.CONNECTED:
            reason: str | None = self._down_reason
        elif self._link_lost:
            reason = f"{_LINK_LOST}: connectivity between TWS and IB lost"
        else:
            reason = None
        ticks_reason = reason or (f"{_FARM_DOWN}: market data farm disconnected" if self._farm_down else None)
        for stream, why in zip(self.streams, (ticks_reason, reason, reason), strict=True):
            if why is None:
                health.mark_up(stream)
            else:
                health.mark_down(stream, why)

    # --- ib_insync events --------------------------------------------------------------

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        hub = self._hubs.get("ticks")
        if hub is None:
            return
        symbols = self._symbols
        count = 0
        for ticker in tickers:
            symbol = symbols.get(id(ticker.contract))
            if symbol is not None:
                hub.on_next(tick_from_ticker(symbol, ticker))
                count += 1
        if count:
            self._health.record_update(self.streams[0])
            if self._conditions:
                self._notify()

    def _on_position(self, position: Position) -> None:
        hub = self._hubs.get("positions")
        if hub is None:
            return
        now = self._context.scheduler.now if self._context is not None else datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        hub.on_next(position_from(position, now))
        self._health.record_update(self.streams[1])
        self._notify()

    def _on_exec_details(self, trade: Trade, fill: IBFill) -> None:
        self._offer_fill(fill)

    def _on_commission_report(self, trade: Trade, fill: IBFill, report: IBCommissionReport) -> None:
        exec_id = fill.execution.execId
        pending = self._pending.pop(exec_id, None)
        if pending is not None:
            pending[0].cancel()
        if exec_id not in self._published:
            self._publish_fill(fill, commission_of(report))

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        loop = self._loop
        if code == _LINK_LOST:
            self._link_lost = True
            log.warning("IBKR %s: %d %s", self.config.address, code, message)
        elif code in _LINK_RESTORED:
            self._link_lost = False
            log.warning("IBKR %s: %d %s; resubscribing", self.config.address, code, message)
            if loop is not None and self.state is FeedState.CONNECTED:
                loop.call_soon(self._resubscribe, f"{code}")
                self._spawn(self._recover_fills())
        elif code == _FARM_DOWN:
            self._farm_down = True
            log.warning("IBKR %s: %d %s", self.config.address, code, message)
        elif code in _FARM_UP:
            if self._farm_down:
                self._farm_down = False
                log.info("IBKR %s: %d %s; resubscribing", self.config.address, code, message)
                if loop is not None and self.state is FeedState.CONNECTED:
                    loop.call_soon(self._resubscribe, f"{_FARM_DOWN}->{code}")
        elif code in _MARKET_DATA_ERRORS and contract is not None:
            self._health.record_error(self.streams[0], f"{code} {symbol_of(contract)}: {message}")
        else:
            return
        self._update_health()
        self._notify()

    # --- market data -------------------------------------------------------------------

    def _subscribe(self) -> None:
        for contract in self._active:
            self.ib.reqMktData(contract, "", False, False)

    def _resubscribe(self, why: str) -> None:
        if self.state is not FeedState.CONNECTED:
            return
        for contract in self._active:
            if self.ib.ticker(contract) is not None:
                self.ib.cancelMktData(contract)
        self._subscribe()
        self.resubscriptions += 1
        self._health.record_recovery_attempt(self.streams[0])
        log.info("IBKR %s: market data resubscribed (%s)", self.config.address, why)
        self._notify()

    # --- fills -------------------------------------------------------------------------

    async def _recover_fills(self) -> None:
        """Ask for executions again; publish those not yet published (outage fills)."""
        async with asyncio.timeout(self.config.connect_timeout):
            returned = await self.ib.reqExecutionsAsync()
        canonical = {f.execution.execId: f for f in self.ib.fills()}
        for fill in returned:
            self._offer_fill(canonical.get(fill.execution.execId, fill))
        for fill in canonical.values():
            self._offer_fill(fill)

    def _offer_fill(self, fill: IBFill) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._published or exec_id in self._pending:
            return
        commission = commission_of(fill.commissionReport)
        if commission is not None:
            self._publish_fill(fill, commission)
            return
        assert self._loop is not None
        handle = self._loop.call_later(self.config.commission_wait, self._commission_timeout, exec_id)
        self._pending[exec_id] = (handle, fill)

    def _commission_timeout(self, exec_id: str) -> None:
        pending = self._pending.pop(exec_id, None)
        if pending is None:
            return
        handle, fill = pending
        handle.cancel()
        commission = commission_of(fill.commissionReport)
        if commission is None:
            log.warning("IBKR: no commission report for execution %s; publishing without", exec_id)
        self._publish_fill(fill, commission)

    def _publish_fill(self, fill: IBFill, commission: float | None) -> None:
        exec_id = fill.execution.execId
        event = fill_from(fill, commission)
        published = self._published
        published[exec_id] = None
        if len(published) > self.config.dedupe_capacity:
            published.popitem(last=False)
        self.published_fills += 1
        hub = self._hubs.get("fills")
        if hub is not None:
            hub.on_next(event)
        self._health.record_update(self.streams[2])
        for callback in list(self._callbacks):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:  # one failing callback must not stop the others
                log.exception("IBKR: order-filled callback %r failed", callback)
        self._notify()

    def _spawn(self, awaitable: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._guard(awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, awaitable: Any) -> None:
        try:
            await awaitable
        except (TimeoutError, ConnectionError) as exc:
            log.warning("IBKR %s: %s", self.config.address, exc)
        except Exception:  # logged; the feed carries on
            log.exception("IBKR %s: background task failed", self.config.address)
