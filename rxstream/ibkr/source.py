"""The IBKR feed: a TWS / IB Gateway connection as the engine's ticks, positions and fills.

It uses ib_insync 0.9.86 or ib_async 2.x, whichever is installed, through
:mod:`rxstream.ibkr.api`, the one module that imports the library.

:class:`IBKRFeed` is the composition of small objects, each with one job and
its own state, each handed what it needs (the client, the health streams, a
publish function, the clock) and none reaching into another:

* :class:`~rxstream.ibkr.supervisor.ConnectionSupervisor` — the one task that
  connects: client-id cycling on 326, backoff with jitter, heartbeat;
* :class:`~rxstream.ibkr.errorcodes.ErrorPolicy` — TWS error codes → effects,
  as a table (1100/1101/1102, 2103/2104, per-contract market data errors);
* :class:`~rxstream.ibkr.marketdata.MarketData` — qualify once, subscribe,
  resubscribe, tickers → :class:`~rxstream.events.Tick`;
* :class:`~rxstream.ibkr.fills.FillGate` — one fill per exec id, with its
  commission, waiting on the engine's clock;
* :class:`~rxstream.ibkr.streams.FeedHealth` — the three health streams;
* :class:`~rxstream.ibkr.orders.MarketOrders` — :attr:`IBKRFeed.orders`, the
  typed handle a trader is given.

The feed itself only wires the client's events to them and publishes into the
engine's hubs.

Events (pushed into the context's ``sources``):
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
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from ..conditions import Conditions
from ..errors import UsageError
from ..events import Fill
from .api import IB, LIBRARY, Contract, Position, Ticker, Trade
from .api import CommissionReport as IBCommissionReport
from .api import Fill as IBFill
from .config import IBKRConfig
from .contracts import commission_of, position_from, symbol_of, to_contract
from .errorcodes import ErrorPolicy
from .fills import FillGate, recover_fills
from .marketdata import MarketData
from .orders import MarketOrders
from .streams import FeedHealth
from .supervisor import ConnectionSupervisor, FeedState
from .symbols import parse_symbols

if TYPE_CHECKING:
    from ..feed import FeedContext
    from ..hub import Hub

__all__ = ["FeedState", "IBKRFeed", "OrderFilledCallback"]

log = logging.getLogger(__name__)

OrderFilledCallback = Callable[[Fill], Any]
"""Called with each published fill; may return an awaitable (it is scheduled as a task)."""


@dataclass(slots=True)
class _Running:
    """The parts that exist while the feed runs, built in :meth:`IBKRFeed.start` from the context."""

    ctx: FeedContext
    loop: asyncio.AbstractEventLoop
    health: FeedHealth
    policy: ErrorPolicy
    market: MarketData
    gate: FillGate
    supervisor: ConnectionSupervisor
    positions: Hub[Any] | None
    fills: Hub[Any] | None


def _drop(_: object) -> None:
    pass


class _Background:
    """Tasks the feed starts and forgets (recovering fills, async order-filled callbacks): logged, never lost."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any]) -> None:
        task = loop.create_task(self._guard(awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except (TimeoutError, ConnectionError) as exc:
            log.warning("IBKR %s: %s", self._address, exc)
        except Exception:  # logged; the feed carries on
            log.exception("IBKR %s: background task failed", self._address)


class IBKRFeed:
    """Feeds an engine from TWS / IB Gateway through ib_insync or ib_async.

    >>> feed = IBKRFeed(IBKRConfig(host="127.0.0.1", port=7497, symbols=["EURUSD", "AAPL"]))
    >>> feed.state
    <FeedState.IDLE: 'idle'>

    Args:
        config: where to connect and what to subscribe to (default: 127.0.0.1:7497, EURUSD).
        name: the feed's name in the engine.
        rng: the backoff jitter's random source (tests pass a seeded one).

    Attributes:
        ib: the library's ``IB`` client (read it; connecting is the supervisor's job).
        orders: :class:`~rxstream.ibkr.orders.MarketOrders`, the handle for placing orders.
        streams: the health stream names: ticks, positions, fills.
    """

    def __init__(
        self, config: IBKRConfig | None = None, *, name: str = "ibkr", rng: random.Random | None = None
    ) -> None:
        self.config = config or IBKRConfig()
        self.name = name
        self.ib = IB()
        self._rng = rng
        self._contracts: dict[str, Contract] = {
            spec.symbol: to_contract(spec) for spec in parse_symbols(self.config.symbols)
        }
        prefix = self.config.health_prefix
        self.streams = (f"{prefix}.ticks", f"{prefix}.positions", f"{prefix}.fills")
        self.orders = MarketOrders(self.ib, self._contracts.get, self.config)
        self._run: _Running | None = None
        self._stopped = False
        self._background = _Background(self.config.address)
        self._callbacks: list[OrderFilledCallback] = []
        self._conditions = Conditions()

    def __repr__(self) -> str:
        return f"IBKRFeed({self.config.address}, {LIBRARY}, state={self.state.value}, client_id={self.client_id})"

    # --- what the parts know, read through the feed ------------------------------------

    @property
    def state(self) -> FeedState:
        """Where the connection is (:class:`FeedState`)."""
        if self._stopped:
            return FeedState.STOPPED
        return self._run.supervisor.state if self._run else FeedState.IDLE

    @property
    def client_id(self) -> int:
        """The client id of the current (or last) connection."""
        return self._run.supervisor.client_id if self._run else self.config.client_id

    @property
    def connections(self) -> int:
        return self._run.supervisor.connections if self._run else 0

    @property
    def disconnects(self) -> int:
        return self._run.supervisor.disconnects if self._run else 0

    @property
    def recovery_attempts(self) -> int:
        """Connect attempts after the first one."""
        return self._run.supervisor.recovery_attempts if self._run else 0

    @property
    def resubscriptions(self) -> int:
        """Times market data was requested again (1101/1102, a 2103 → 2104 blip)."""
        return self._run.market.resubscriptions if self._run else 0

    @property
    def published_fills(self) -> int:
        return self._run.gate.published if self._run else 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, ctx: FeedContext) -> None:
        """Register the health streams and start the connection supervisor (returns at once)."""
        if self._run is not None or self._stopped:
            raise UsageError(f"feed {self.name}", "already started")
        cfg = self.config
        health = FeedHealth(ctx.health, cfg.health_prefix)
        policy = ErrorPolicy()
        ticks = ctx.sources.get("ticks")
        run = self._run = _Running(
            ctx,
            ctx.loop or asyncio.get_running_loop(),
            health,
            policy,
            MarketData(
                self.ib, self._contracts, publish=ticks.on_next if ticks is not None else _drop, health=health,
                address=cfg.address,
            ),
            FillGate(self._publish_fill, scheduler=ctx.scheduler, wait=cfg.commission_wait,
                     capacity=cfg.dedupe_capacity),
            ConnectionSupervisor(
                self.ib, cfg, health=health, policy=policy, setup=self._setup, changed=self._changed, rng=self._rng
            ),
            ctx.sources.get("positions"),
            ctx.sources.get("fills"),
        )
        self._changed()
        ib = self.ib
        ib.pendingTickersEvent += self._on_tickers
        ib.positionEvent += self._on_position
        ib.execDetailsEvent += self._on_exec_details
        ib.commissionReportEvent += self._on_commission_report
        ib.errorEvent += self._on_error
        run.supervisor.start(run.loop, self.name)

    async def stop(self) -> None:
        """Stop reconnecting, publish fills still waiting for commission, disconnect, unregister callbacks."""
        run = self._run
        if run is None or self._stopped:
            return
        await self._background.cancel()
        run.gate.flush()
        ib = self.ib
        ib.pendingTickersEvent -= self._on_tickers
        ib.positionEvent -= self._on_position
        ib.execDetailsEvent -= self._on_exec_details
        ib.commissionReportEvent -= self._on_commission_report
        ib.errorEvent -= self._on_error
        self._callbacks.clear()
        await run.supervisor.stop()
        self._stopped = True
        self._conditions.cancel_all()

    # --- observing ---------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` holds; it is re-checked on every state change, event
        published and error handled. Raises ``TimeoutError`` after ``timeout`` seconds."""
        await self._conditions.wait_for(predicate, timeout)

    def place_market_order(self, symbol: str, side: str, quantity: float) -> int:
        """Send a market order for a configured symbol; returns its order id (see :attr:`orders`)."""
        return self.orders.place_market_order(symbol, side, quantity)

    def add_order_filled_callback(self, callback: OrderFilledCallback) -> None:
        """Call ``callback(fill)`` on the loop for every fill published (once per exec id)."""
        self._callbacks.append(callback)

    def remove_order_filled_callback(self, callback: OrderFilledCallback) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    async def recover_fills(self) -> None:
        """Ask TWS for the day's executions again; publish those not yet published."""
        if self._run is not None:
            await recover_fills(self.ib, self._run.gate, self.config.connect_timeout)

    # --- wiring: the parts call these ---------------------------------------------------

    def _changed(self) -> None:
        """Something observable changed: show health again, wake waiters."""
        run = self._run
        if run is not None:
            link, farm = run.policy.reasons()
            down = run.supervisor.down_reason if not run.supervisor.connected else link
            run.health.show(down, farm)
        self._conditions.notify()

    async def _setup(self) -> None:
        """After each connect: qualify (the first time), subscribe, recover fills."""
        assert self._run is not None
        await self._run.market.start(self.config.connect_timeout)
        self._conditions.notify()
        await self.recover_fills()

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        run = self._run
        if run is not None and run.market.on_tickers(tickers) and self._conditions:
            self._conditions.notify()

    def _on_position(self, position: Position) -> None:
        run = self._run
        if run is None or run.positions is None:
            return
        now = run.ctx.scheduler.now
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        run.positions.on_next(position_from(position, now))
        run.health.positions_updated()
        self._conditions.notify()

    def _on_exec_details(self, trade: Trade, fill: IBFill) -> None:
        if self._run is not None:
            self._run.gate.offer(fill)

    def _on_commission_report(self, trade: Trade, fill: IBFill, report: IBCommissionReport) -> None:
        if self._run is not None:
            self._run.gate.commission(fill, commission_of(report))

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        run = self._run
        if run is None:
            return
        connected = run.supervisor.connected
        reaction = run.policy.on_error(
            code, message, symbol_of(contract) if contract is not None else None, connected=connected
        )
        if reaction.ticks_error is not None:
            run.health.ticks_error(reaction.ticks_error)
        if reaction.resubscribe is not None:
            log.warning("IBKR %s: %d %s; resubscribing", self.config.address, code, message)
            run.loop.call_soon(self._resubscribe, reaction.resubscribe)
        elif reaction.health_changed:
            log.warning("IBKR %s: %d %s", self.config.address, code, message)
        if reaction.recover_fills:
            self._background.spawn(run.loop, self.recover_fills())
        if reaction.health_changed:
            self._changed()

    def _resubscribe(self, why: str) -> None:
        run = self._run
        if run is not None and run.supervisor.connected:
            run.market.resubscribe(why)
            self._conditions.notify()

    def _publish_fill(self, fill: Fill) -> None:
        run = self._run
        assert run is not None
        if run.fills is not None:
            run.fills.on_next(fill)
        run.health.fills_updated()
        for callback in list(self._callbacks):
            try:
                result = callback(fill)
                if inspect.isawaitable(result):
                    self._background.spawn(run.loop, result)
            except Exception:  # one failing callback must not stop the others
                log.exception("IBKR: order-filled callback %r failed", callback)
        self._conditions.notify()
