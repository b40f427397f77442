"""A loopback TWS: the asyncio shell around the simulator's handlers, broker and tick history.

:class:`TwsSimulator` listens, reads each connection through the sans-I/O
:mod:`~rxstream.testing.codec`, parses requests (:mod:`~rxstream.testing.requests`)
and hands each to :class:`~rxstream.testing.handlers.Handlers`, whose explicit
table answers it. Orders, fills and positions are the
:class:`~rxstream.testing.broker.Broker`'s; historical bars come from
:mod:`~rxstream.testing.history`. This module only does I/O: connections,
paced streaming of the tick source, and scripted faults.

Faults are scripted by tests (or by ``rxstream sim --fault``, see
:mod:`~rxstream.testing.faults`): :meth:`~TwsSimulator.drop_connections`,
:meth:`~TwsSimulator.refuse_connections` (for a while, or N times),
:meth:`~TwsSimulator.send_error` (1100, 1101, 1102, 2103, 2104, ...),
:meth:`~TwsSimulator.stall` (nothing is read or streamed for a while),
:meth:`~TwsSimulator.hold_client_id` (the next connect with that id gets
error 326) and, like real TWS, past executions are resent on every
REQ_EXECUTIONS (``resend_executions``).

Example::

    async with TwsSimulator(ticks, speed=0) as sim:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..conditions import Conditions
from ..events import Tick
from ..ibkr.symbols import ContractSpec
from .broker import Broker, ExecRecord, Order, default_commission
from .contracts import ContractBook
from .handlers import Handlers
from .history import TickHistory
from .listener import Listener
from .messages import ERROR_MESSAGES
from .streaming import stream_ticks

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_POSITIONS", "ERROR_MESSAGES", "SessionInfo", "SimPosition", "TwsSimulator"]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "DU0000001"


class SimPosition(NamedTuple):
    """A position the simulator holds at start."""

    account: str
    symbol: str
    quantity: float
    avg_cost: float


DEFAULT_POSITIONS = (
    SimPosition(DEFAULT_ACCOUNT, "EURUSD", 100_000.0, 1.1205),
    SimPosition(DEFAULT_ACCOUNT, "AAPL", 50.0, 185.25),
)
"""What a simulator started without ``positions=`` holds."""


class SessionInfo(NamedTuple):
    """What a test can see of one client connection."""

    client_id: int | None
    ready: bool
    market_data: tuple[str, ...]
    """Symbols the client is subscribed to."""


class TwsSimulator:
    """A TWS API server on loopback for tests, benchmarks and ``rxstream sim``.

    Args:
        ticks: ticks to stream (other events are skipped), or a function returning a fresh iterable
            for each pass; streaming starts with the first market data subscription. A function or a
            sequence is also read (once) for historical data.
        host, port: where to listen; port 0 (default) picks a free port, see :attr:`port`.
        speed: replay speed factor against the ticks' timestamps; 0 or ``None`` streams as fast as
            the clients read.
        loop: start over when the ticks run out.
        account: the one managed account.
        positions: positions held at start (default :data:`DEFAULT_POSITIONS`).
        symbols: extra symbols the simulator knows (``EURUSD``, ``AAPL``, anything in ``positions``
            or pushed as a tick is known anyway).
        resend_executions: answer REQ_EXECUTIONS with every past execution, as TWS does.
        commission: ``(contract, quantity, price) -> commission`` in the contract's currency.
        farm_messages: greet each client with 2104/2106 (farm OK), as TWS does.
        commission_reports: send COMMISSION_REPORT after executions (off: test a client's fallback).
        cash: the account's USD cash at start.

    Tests wait for states with :meth:`wait_for`, which re-checks its predicate whenever a
    connection, subscription, order or tick changes state.
    """

    def __init__(
        self,
        ticks: Iterable[Any] | Callable[[], Iterable[Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = 1.0,
        loop: bool = False,
        account: str = DEFAULT_ACCOUNT,
        positions: Iterable[SimPosition] | None = None,
        symbols: Iterable[str] = (),
        resend_executions: bool = True,
        commission: Callable[[ContractSpec, float, float], float] = default_commission,
        farm_messages: bool = True,
        commission_reports: bool = True,
        cash: float = 1_000_000.0,
    ) -> None:
        self.host = host
        self.speed = speed or 0.0
        self.loop = loop
        self.account = account
        self._ticks = ticks
        held = list(DEFAULT_POSITIONS if positions is None else positions)
        self._contracts = ContractBook(["EURUSD", "AAPL", *symbols, *(p.symbol for p in held)])
        self._history = TickHistory(ticks)
        self.broker = Broker(
            account, [(p.account, self.contract(p.symbol), p.quantity, p.avg_cost) for p in held],
            cash=cash, commission=commission, exec_prefix=f"{int(time.time()) & 0xFFFFFFFF:08x}",
            reference=self._history.last,
        )
        """The orders, fills and positions (pure; see :mod:`rxstream.testing.broker`)."""
        self._held_client_ids: set[int] = set()
        self._subscribed = asyncio.Event()
        self._handlers = Handlers(
            account=account, broker=self.broker, contracts=self._contracts, history=self._history,
            held_client_ids=self._held_client_ids, on_market_data=self._subscribed.set,
            farm_messages=farm_messages, commission_reports=commission_reports,
            resend_executions=resend_executions,
        )
        self._running = asyncio.Event()
        self._running.set()
        self._stall_handle: asyncio.TimerHandle | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._conditions = Conditions()
        self._listener = Listener(host, port, self._handlers, self._conditions.notify, self._running)
        self.ticks_pushed = 0
        """Ticks pushed (streamed or by :meth:`push_tick`)."""
        self.streaming_done = asyncio.Event()
        """Set when the tick source is exhausted (never, with ``loop=True``)."""

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (known after :meth:`start`)."""
        return self._listener.port

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted at the TCP level now."""
        return self._listener.listening

    @property
    def connections(self) -> int:
        """TCP connections accepted (refused ones not counted)."""
        return self._listener.connections

    @property
    def refused(self) -> int:
        """Connection attempts refused by :meth:`refuse_connections`."""
        return self._listener.refused

    async def start(self) -> None:
        """Listen, and start streaming ticks once a client subscribes to market data."""
        await self._listener.start()
        if self._ticks is not None:
            self._stream_task = self._listener.spawn(self._stream())

    async def stop(self) -> None:
        """Close every connection and stop listening; returns once all are closed."""
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        self._running.set()
        if self._stream_task is not None:
            self._stream_task.cancel()
        await self._listener.stop()
        self._conditions.cancel_all()

    async def __aenter__(self) -> TwsSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- observing ---------------------------------------------------------------------

    @property
    def sessions(self) -> list[SessionInfo]:
        """The open client connections."""
        return [
            SessionInfo(s.client_id, s.ready, tuple(s.market_data.values())) for s in self._handlers.sessions
        ]

    @property
    def executions(self) -> tuple[ExecRecord, ...]:
        """Every execution so far, oldest first."""
        return self.broker.executions

    @property
    def positions(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(account, symbol) → (quantity, avg_cost)``."""
        return {key: (h.quantity, h.avg_cost) for key, h in self.broker.holdings().items()}

    @property
    def stalled(self) -> bool:
        """Whether a :meth:`stall` is in progress."""
        return not self._running.is_set()

    def quote(self, symbol: str) -> Tick | None:
        """The latest tick pushed for ``symbol``."""
        return self.broker.last_quote(self.contract(symbol).symbol)

    def subscribers(self, symbol: str) -> int:
        """How many market data subscriptions ``symbol`` has."""
        return sum(list(s.market_data.values()).count(symbol) for s in self._handlers.sessions)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` holds; raises ``TimeoutError`` after ``timeout`` seconds."""
        await self._conditions.wait_for(predicate, timeout)

    def contract(self, symbol: str) -> ContractSpec:
        """The contract the simulator uses for ``symbol`` (added if new)."""
        return self._contracts.contract(symbol)

    # --- scripted behaviour ------------------------------------------------------------

    def push_tick(self, tick: Tick) -> int:
        """Make ``tick`` the current quote, send it to its subscribers and keep it for historical
        data; returns how many subscriptions got it."""
        self.contract(tick.symbol)
        self._history.add(tick)
        return self._push(tick)

    def _push(self, tick: Tick) -> int:
        sent = self._handlers.tick(tick)
        self.ticks_pushed += 1
        if self._conditions:
            self._conditions.notify()
        return sent

    def drop_connections(self) -> int:
        """Close every client connection (as when TWS restarts); returns how many."""
        return self._listener.drop()

    def refuse_connections(self, *, times: int | None = None, seconds: float | None = None) -> None:
        """Refuse new connections: the next ``times`` are accepted and closed at once, or for
        ``seconds`` nothing listens (connect fails with ECONNREFUSED) and then the port is
        listened on again."""
        self._listener.refuse(times=times, seconds=seconds)

    def stall(self, seconds: float) -> None:
        """Go silent for ``seconds``: sockets stay open, but no request is answered and no tick is
        streamed (as a hung TWS); :meth:`push_tick` and :meth:`send_error` still send."""
        if self._stall_handle is not None:
            self._stall_handle.cancel()
        self._running.clear()
        self._stall_handle = asyncio.get_running_loop().call_later(seconds, self.resume)
        self._conditions.notify()

    def resume(self) -> None:
        """End a :meth:`stall` now: held requests are answered and streaming goes on."""
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        self._running.set()
        self._conditions.notify()

    @property
    def stalled_reads(self) -> int:
        """Reads from clients that arrived during a stall (answered when it ends)."""
        return self._listener.stalled_reads

    def send_error(self, code: int, message: str | None = None, *, req_id: int = -1) -> int:
        """Send ERR_MSG ``code`` (with TWS's text unless ``message``) to every ready client; returns how many."""
        return self._handlers.error(code, req_id, message)

    def hold_client_id(self, client_id: int) -> None:
        """Treat ``client_id`` as taken by a stale session: connecting with it gets error 326."""
        self._held_client_ids.add(client_id)

    def release_client_id(self, client_id: int) -> None:
        """Undo :meth:`hold_client_id`."""
        self._held_client_ids.discard(client_id)

    def fill(
        self, symbol: str, side: str, quantity: float, *, price: float | None = None, account: str | None = None
    ) -> ExecRecord:
        """Record an execution not made by an API client (a manual TWS order, say): it updates
        positions and is reported by REQ_EXECUTIONS, but no client gets it live."""
        spec = self.contract(symbol)
        action = {"BUY": "BUY", "BOT": "BUY", "SELL": "SELL", "SLD": "SELL"}[side.upper()]
        order = Order(0, 0, self._handlers.desk.new_perm_id(), account or self.account, spec, action, quantity, "MKT")
        record = self.broker.fill(order, price)
        self._handlers.desk.moved(order.account, spec)
        self._conditions.notify()
        return record

    # --- streaming ---------------------------------------------------------------------

    async def _stream(self) -> None:
        await self._subscribed.wait()
        assert self._ticks is not None
        await stream_ticks(
            self._ticks, self._push, self._handlers.sessions, speed=self.speed, loop=self.loop, running=self._running
        )
        self.streaming_done.set()
        self._conditions.notify()
