"""A loopback TWS: an asyncio server speaking enough of the TWS API for the real ib_insync client.

:class:`TwsSimulator` answers everything ``IB.connectAsync`` asks while it
synchronises (positions, open and completed orders, account data, account
updates multi, executions), qualifies contracts, streams market data from an
iterable of :class:`~rxstream.events.Tick` (paced by their timestamps and a
speed factor, optionally looping) or from explicit :meth:`TwsSimulator.push_tick`
calls, and fills market orders at the current quote with OPEN_ORDER,
ORDER_STATUS, EXECUTION_DATA and COMMISSION_REPORT. Positions follow the
fills.

Faults are scripted by tests: :meth:`~TwsSimulator.drop_connections`,
:meth:`~TwsSimulator.refuse_connections` (for a while, or N times),
:meth:`~TwsSimulator.send_error` (1100, 1101, 1102, 2103, 2104, ...),
:meth:`~TwsSimulator.hold_client_id` (the next connect with that id gets
error 326) and, like real TWS, past executions are resent on every
REQ_EXECUTIONS (``resend_executions``).

The protocol work is in the sans-I/O :mod:`~rxstream.testing.codec` and
:mod:`~rxstream.testing.messages`; this module is the thin asyncio shell.

Example::

    async with TwsSimulator(ticks, speed=0) as sim:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ..conditions import Conditions
from ..errors import ProtocolError
from ..events import Tick
from ..ibkr.symbols import ContractSpec, parse_symbol, symbol_for, synthetic_con_id
from . import messages as m
from .codec import Decoder, Handshake, encode_frame

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_POSITIONS", "ERROR_MESSAGES", "SessionInfo", "SimPosition", "TwsSimulator"]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "DU0000001"

ERROR_MESSAGES: dict[int, str] = {
    200: "No security definition has been found for the request",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
}
"""The text TWS sends with the error codes the simulator is asked for most."""

MIN_CLIENT_VERSION = 157


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

_DEFAULT_PRICES = {"CASH": 1.0, "STK": 100.0}


class SessionInfo(NamedTuple):
    """What a test can see of one client connection."""

    client_id: int | None
    ready: bool
    market_data: tuple[str, ...]
    """Symbols the client is subscribed to."""


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    client_id: int | None = None
    ready: bool = False
    version: int = m.SERVER_VERSION
    market_data: dict[int, str] = field(default_factory=dict)
    positions: bool = False

    def send(self, *messages: list[Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(b"".join(encode_frame(msg) for msg in messages))


@dataclass(eq=False)
class _RestingOrder:
    order: m.PlaceOrder
    contract: ContractSpec
    client_id: int
    perm_id: int


def _default_commission(contract: ContractSpec, quantity: float, price: float) -> float:
    """IB-like fixed pricing: 0.2 bp of value (min 2 USD) for forex, 0.005 USD/share (min 1) for stocks."""
    if contract.is_forex:
        return round(max(2.0, quantity * price * 0.00002), 2)
    return round(max(1.0, quantity * 0.005), 2)


class TwsSimulator:
    """A TWS API server on loopback for tests, benchmarks and ``rxstream sim``.

    Args:
        ticks: ticks to stream (other events are skipped), or a function returning
            a fresh iterable for each pass; streaming starts with the first
            market data subscription.
        host, port: where to listen; port 0 (default) picks a free port, see :attr:`port`.
        speed: replay speed factor against the ticks' timestamps; 0 or ``None``
            streams as fast as the clients read.
        loop: start over when the ticks run out.
        account: the one managed account.
        positions: positions held at start (default :data:`DEFAULT_POSITIONS`).
        symbols: extra symbols the simulator knows (``EURUSD``, ``AAPL``, anything
            in ``positions`` or pushed as a tick is known anyway).
        resend_executions: answer REQ_EXECUTIONS with every past execution, as TWS does.
        commission: ``(contract, quantity, price) -> commission`` in the contract's currency.
        farm_messages: greet each client with 2104/2106 (farm OK), as TWS does.
        commission_reports: send COMMISSION_REPORT after executions (off: test a client's fallback).

    Events:
        none; tests wait for states with :meth:`wait_for`, which re-checks its
        predicate whenever a connection, subscription, order or tick changes state.
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
        commission: Callable[[ContractSpec, float, float], float] = _default_commission,
        farm_messages: bool = True,
        commission_reports: bool = True,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.speed = speed or 0.0
        self.loop = loop
        self.account = account
        self.resend_executions = resend_executions
        self.commission = commission
        self.farm_messages = farm_messages
        self.commission_reports = commission_reports
        self._ticks = ticks
        self._contracts: dict[str, ContractSpec] = {}
        for symbol in ("EURUSD", "AAPL", *symbols):
            self.contract(symbol)
        self._positions: dict[tuple[str, str], tuple[float, float]] = {}
        for p in DEFAULT_POSITIONS if positions is None else positions:
            self._positions[(p.account, self.contract(p.symbol).symbol)] = (p.quantity, p.avg_cost)
        self._quotes: dict[str, Tick] = {}
        self._executions: list[m.ExecRecord] = []
        self._resting: dict[tuple[int, int], _RestingOrder] = {}
        self._sessions: list[_Session] = []
        self._held_client_ids: set[int] = set()
        self._refuse_times = 0
        self._refuse_handle: asyncio.TimerHandle | None = None
        self._server: asyncio.Server | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conditions = Conditions()
        self._subscribed = asyncio.Event()
        self._next_order_id = 1
        self._perm_ids = itertools.count(1_000_001)
        self._exec_seq = itertools.count(1)
        self._exec_prefix = f"{int(time.time()) & 0xFFFFFFFF:08x}"
        self.connections = 0
        """TCP connections accepted (refused ones not counted)."""
        self.refused = 0
        """Connection attempts refused by :meth:`refuse_connections`."""
        self.ticks_pushed = 0
        """Ticks pushed (streamed or by :meth:`push_tick`)."""
        self.streaming_done = asyncio.Event()
        """Set when the tick source is exhausted (never, with ``loop=True``)."""

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (known after :meth:`start`)."""
        return self._port

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted at the TCP level now."""
        return self._server is not None

    async def start(self) -> None:
        """Listen, and start streaming ticks once a client subscribes to market data."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        await self._listen(self._requested_port)
        if self._ticks is not None:
            self._stream_task = self._spawn(self._stream())

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("TWS simulator listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Close every connection and stop listening; returns once all are closed."""
        if self._refuse_handle is not None:
            self._refuse_handle.cancel()
            self._refuse_handle = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for session in list(self._sessions):
            session.writer.close()
        if self._stream_task is not None:
            self._stream_task.cancel()
        # connection handlers end by themselves once their socket is closed (cancelling them
        # would make asyncio's stream callback log the cancellation as an error)
        tasks = list(self._tasks)
        _, pending = await asyncio.wait(tasks, timeout=2.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._conditions.cancel_all()

    async def __aenter__(self) -> TwsSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- observing ---------------------------------------------------------------------

    @property
    def sessions(self) -> list[SessionInfo]:
        """The open client connections."""
        return [
            SessionInfo(s.client_id, s.ready, tuple(s.market_data.values())) for s in self._sessions
        ]

    @property
    def executions(self) -> tuple[m.ExecRecord, ...]:
        """Every execution so far, oldest first."""
        return tuple(self._executions)

    @property
    def positions(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(account, symbol) → (quantity, avg_cost)``."""
        return dict(self._positions)

    def quote(self, symbol: str) -> Tick | None:
        """The latest tick pushed for ``symbol``."""
        return self._quotes.get(self.contract(symbol).symbol)

    def subscribers(self, symbol: str) -> int:
        """How many market data subscriptions ``symbol`` has."""
        return sum(list(s.market_data.values()).count(symbol) for s in self._sessions)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` holds; raises ``TimeoutError`` after ``timeout`` seconds."""
        await self._conditions.wait_for(predicate, timeout)

    def _notify(self) -> None:
        self._conditions.notify()

    # --- contracts ---------------------------------------------------------------------

    def contract(self, symbol: str) -> ContractSpec:
        """The contract the simulator uses for ``symbol`` (added if new)."""
        spec = parse_symbol(symbol)
        known = self._contracts.get(spec.symbol)
        if known is None:
            known = spec if spec.con_id else spec._replace(con_id=synthetic_con_id(spec.symbol))
            self._contracts[spec.symbol] = known
        return known

    def _resolve(self, c: m.ContractFields) -> ContractSpec | None:
        if c.con_id:
            for spec in self._contracts.values():
                if spec.con_id == c.con_id:
                    return spec
            return None
        if c.sec_type not in ("CASH", "STK"):
            return None
        name = symbol_for(c.sec_type, c.symbol, c.currency) if c.symbol else c.local_symbol.replace(".", "")
        try:
            spec = self.contract(name)
        except ValueError:
            return None
        return spec if spec.sec_type == c.sec_type else None

    # --- scripted behaviour ------------------------------------------------------------

    def push_tick(self, tick: Tick) -> int:
        """Make ``tick`` the current quote and send it to its subscribers; returns how many got it."""
        spec = self.contract(tick.symbol)
        self._quotes[spec.symbol] = tick
        self.ticks_pushed += 1
        sent = 0
        for session in self._sessions:
            for req_id, symbol in session.market_data.items():
                if symbol == spec.symbol and not session.writer.is_closing():
                    session.writer.write(m.tick_frames(req_id, *tick[2:]))
                    sent += 1
        if self._conditions:
            self._notify()
        return sent

    @staticmethod
    def _tick_messages(req_id: int, t: Tick) -> list[list[Any]]:
        out = []
        if t.bid is not None:
            out.append(m.tick_price(req_id, m.TickType.BID, t.bid, 1.0 if t.bid_size is None else t.bid_size))
        if t.ask is not None:
            out.append(m.tick_price(req_id, m.TickType.ASK, t.ask, 1.0 if t.ask_size is None else t.ask_size))
        if t.last is not None:
            out.append(m.tick_price(req_id, m.TickType.LAST, t.last, t.last_size or 0.0))
        if t.volume is not None:
            out.append(m.tick_size(req_id, m.TickType.VOLUME, t.volume))
        return out

    def drop_connections(self) -> int:
        """Close every client connection (as when TWS restarts); returns how many."""
        count = 0
        for session in list(self._sessions):
            if not session.writer.is_closing():
                session.writer.close()
                count += 1
        return count

    def refuse_connections(self, *, times: int | None = None, seconds: float | None = None) -> None:
        """Refuse new connections: the next ``times`` are accepted and closed at once, or for
        ``seconds`` nothing listens (connect fails with ECONNREFUSED) and then the port is
        listened on again."""
        if times is not None:
            self._refuse_times = times
        if seconds is not None:
            if self._server is None:
                raise RuntimeError("simulator not started")
            self._server.close()
            self._server = None
            loop = asyncio.get_running_loop()
            self._refuse_handle = loop.call_later(seconds, lambda: self._spawn(self._relisten()))

    async def _relisten(self) -> None:
        self._refuse_handle = None
        await self._listen(self._port)
        self._notify()

    def send_error(self, code: int, message: str | None = None, *, req_id: int = -1) -> int:
        """Send ERR_MSG ``code`` to every ready client; returns how many got it."""
        text = message if message is not None else ERROR_MESSAGES.get(code, f"simulated error {code}")
        ready = [s for s in self._sessions if s.ready]
        for session in ready:
            session.send(m.error(req_id, code, text))
        return len(ready)

    def hold_client_id(self, client_id: int) -> None:
        """Treat ``client_id`` as taken by a stale session: connecting with it gets error 326."""
        self._held_client_ids.add(client_id)

    def release_client_id(self, client_id: int) -> None:
        """Undo :meth:`hold_client_id`."""
        self._held_client_ids.discard(client_id)

    def fill(
        self, symbol: str, side: str, quantity: float, *, price: float | None = None, account: str | None = None
    ) -> m.ExecRecord:
        """Record an execution not made by an API client (a manual TWS order, say): it updates
        positions and is reported by REQ_EXECUTIONS, but no client gets it live."""
        spec = self.contract(symbol)
        action = {"BUY": "BUY", "BOT": "BUY", "SELL": "SELL", "SLD": "SELL"}[side.upper()]
        fill_price = price if price is not None else self._price(spec, action)
        return self._execute(spec, action, quantity, fill_price, account or self.account, 0, 0,
                             next(self._perm_ids), "")

    # --- streaming ---------------------------------------------------------------------

    def _pass(self) -> Iterable[Any]:
        source = self._ticks
        return source() if callable(source) else source  # type: ignore[return-value]

    async def _stream(self) -> None:
        await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        speed = self.speed
        while True:
            count = 0
            start_wall = loop.time()
            start_tick: float | None = None
            for event in self._pass():
                if not isinstance(event, Tick):
                    continue
                if speed:
                    stamp = event.time.timestamp()
                    if start_tick is None:
                        start_tick = stamp
                    delay = start_wall + (stamp - start_tick) / speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self.push_tick(event)
                count += 1
                if count % 256 == 0:
                    await self._drain()
            await self._drain()  # a short looping source must not starve the loop
            if not self.loop or count == 0:
                break
        self.streaming_done.set()
        self._notify()

    async def _drain(self) -> None:
        for session in list(self._sessions):
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
        await asyncio.sleep(0)

    # --- connections -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._refuse_times > 0:
            self._refuse_times -= 1
            self.refused += 1
            writer.transport.abort()
            self._notify()
            return
        self.connections += 1
        session = _Session(writer)
        self._sessions.append(session)
        self._notify()
        decoder = Decoder()
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                decoder.receive_data(data)
                for event in decoder.events_received():
                    self._handle(session, event)
                    if writer.is_closing():
                        break
        except ProtocolError as exc:
            log.warning("TWS simulator: closing a client that broke the protocol: %s", exc)
        except ConnectionError:
            pass
        finally:
            self._sessions.remove(session)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._notify()

    def _handle(self, session: _Session, event: Handshake | list[str]) -> None:
        if isinstance(event, Handshake):
            if event.max_version < MIN_CLIENT_VERSION:
                log.warning("TWS simulator: client speaks v%d..%d, too old", *event[:2])
                session.writer.close()
                return
            session.version = min(m.SERVER_VERSION, event.max_version)
            now = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
            session.send([session.version, now])
            return
        if not event:
            return
        request = m.parse_request(event)
        handler = getattr(self, f"_on_{type(request).__name__}", None)
        if handler is None:
            log.debug("TWS simulator: ignoring %s", event)
            return
        if not session.ready and not isinstance(request, m.StartApi):
            log.warning("TWS simulator: request before START_API: %s", event)
            return
        handler(session, request)
        self._notify()

    # --- request handlers (named after the request records) ----------------------------

    def _on_StartApi(self, session: _Session, r: m.StartApi) -> None:
        in_use = r.client_id in self._held_client_ids or any(
            s.ready and s.client_id == r.client_id for s in self._sessions
        )
        if in_use:
            session.send(m.error(-1, 326, ERROR_MESSAGES[326]))
            session.writer.close()
            return
        session.client_id = r.client_id
        session.ready = True
        session.send(m.next_valid_id(self._next_order_id), m.managed_accounts([self.account]))
        if self.farm_messages:
            session.send(m.error(-1, 2104, ERROR_MESSAGES[2104]), m.error(-1, 2106, ERROR_MESSAGES[2106]))

    def _on_ReqPositions(self, session: _Session, r: m.ReqPositions) -> None:
        session.positions = r.subscribe
        if r.subscribe:
            session.send(*self._position_messages(), m.position_end())

    def _position_messages(self) -> list[list[Any]]:
        return [
            m.position(account, self._contracts[symbol], qty, cost)
            for (account, symbol), (qty, cost) in self._positions.items()
        ]

    def _on_ReqOpenOrders(self, session: _Session, r: m.ReqOpenOrders) -> None:
        if r.kind == "auto":
            return
        orders = [
            m.open_order(o.order, o.contract, client_id=o.client_id, perm_id=o.perm_id, status="Submitted")
            for o in self._resting.values()
            if r.kind == "all" or o.client_id == session.client_id
        ]
        session.send(*orders, m.open_order_end())

    def _on_ReqCompletedOrders(self, session: _Session, r: m.ReqCompletedOrders) -> None:
        session.send(m.completed_orders_end())

    def _on_ReqAccountUpdates(self, session: _Session, r: m.ReqAccountUpdates) -> None:
        if r.subscribe:
            account = r.account or self.account
            session.send(
                m.account_value("AccountType", "INDIVIDUAL", "", account),
                m.account_value("NetLiquidation", "1000000.00", "USD", account),
                m.account_value("TotalCashValue", "1000000.00", "USD", account),
                m.account_download_end(account),
            )

    def _on_ReqAccountUpdatesMulti(self, session: _Session, r: m.ReqAccountUpdatesMulti) -> None:
        if r.subscribe:
            session.send(m.account_update_multi_end(r.req_id))

    def _on_ReqAccountSummary(self, session: _Session, r: m.ReqAccountSummary) -> None:
        if r.subscribe:
            session.send(m.account_summary_end(r.req_id))

    def _on_ReqCurrentTime(self, session: _Session, r: m.ReqCurrentTime) -> None:
        session.send(m.current_time(int(time.time())))

    def _on_ReqIds(self, session: _Session, r: m.ReqIds) -> None:
        session.send(m.next_valid_id(self._next_order_id))

    def _on_ReqExecutions(self, session: _Session, r: m.ReqExecutions) -> None:
        out: list[list[Any]] = []
        if self.resend_executions:
            for e in self._executions:
                if (
                    (r.client_id and e.client_id != r.client_id)
                    or (r.account and e.account != r.account)
                    or (r.symbol and e.contract.ib_symbol != r.symbol)
                    or (r.sec_type and e.contract.sec_type != r.sec_type)
                    or (r.side and e.side != r.side[:3].upper().replace("BUY", "BOT").replace("SEL", "SLD"))
                ):
                    continue
                out.append(m.execution_data(r.req_id, e))
                if self.commission_reports:
                    out.append(m.commission_report(e.exec_id, e.commission, e.contract.currency))
        session.send(*out, m.execution_data_end(r.req_id))

    def _on_ReqContractData(self, session: _Session, r: m.ReqContractData) -> None:
        spec = self._resolve(r.contract)
        if spec is None:
            session.send(m.error(r.req_id, 200, ERROR_MESSAGES[200]))
        else:
            session.send(m.contract_data(r.req_id, spec), m.contract_data_end(r.req_id))

    def _on_ReqMktData(self, session: _Session, r: m.ReqMktData) -> None:
        spec = self._resolve(r.contract)
        if spec is None:
            session.send(m.error(r.req_id, 200, ERROR_MESSAGES[200]))
            return
        quote = self._quotes.get(spec.symbol)
        if r.snapshot:
            session.send(*(self._tick_messages(r.req_id, quote) if quote else []), [57, 1, r.req_id])
            return
        session.market_data[r.req_id] = spec.symbol
        self._subscribed.set()
        if quote is not None:
            session.send(*self._tick_messages(r.req_id, quote))

    def _on_CancelMktData(self, session: _Session, r: m.CancelMktData) -> None:
        session.market_data.pop(r.req_id, None)

    def _on_PlaceOrder(self, session: _Session, r: m.PlaceOrder) -> None:
        client_id = session.client_id or 0
        self._next_order_id = max(self._next_order_id, r.order_id + 1)
        spec = self._resolve(r.contract)
        if spec is None:
            session.send(m.error(r.order_id, 200, ERROR_MESSAGES[200]))
            return
        if r.action not in ("BUY", "SELL") or r.quantity <= 0:
            session.send(m.error(r.order_id, 201, "Order rejected - reason: invalid action or quantity"))
            return
        if r.order_type not in ("MKT", "LMT"):
            session.send(m.error(r.order_id, 387, f"Unsupported order type {r.order_type} (simulator)"))
            return
        perm_id = next(self._perm_ids)
        price = self._price(spec, r.action)
        marketable = r.order_type == "MKT" or (
            r.lmt_price is not None and (price <= r.lmt_price if r.action == "BUY" else price >= r.lmt_price)
        )
        session.send(
            m.open_order(r, spec, client_id=client_id, perm_id=perm_id, status="Submitted"),
            m.order_status(r.order_id, "Submitted", 0.0, r.quantity, 0.0, perm_id, 0.0, client_id),
        )
        if not marketable:
            self._resting[(client_id, r.order_id)] = _RestingOrder(r, spec, client_id, perm_id)
            return
        record = self._execute(
            spec, r.action, r.quantity, price, r.account or self.account, r.order_id, client_id, perm_id,
            r.order_ref,
        )
        session.send(
            m.execution_data(-1, record),
            m.open_order(r, spec, client_id=client_id, perm_id=perm_id, status="Filled"),
            m.order_status(r.order_id, "Filled", r.quantity, 0.0, price, perm_id, price, client_id),
        )
        if self.commission_reports:
            session.send(m.commission_report(record.exec_id, record.commission, spec.currency))

    def _on_CancelOrder(self, session: _Session, r: m.CancelOrder) -> None:
        resting = self._resting.pop((session.client_id or 0, r.order_id), None)
        if resting is None:
            session.send(m.error(r.order_id, 10147, f"OrderId {r.order_id} that needs to be cancelled is not found."))
            return
        o = resting.order
        session.send(
            m.order_status(o.order_id, "Cancelled", 0.0, o.quantity, 0.0, resting.perm_id, 0.0, resting.client_id)
        )

    # --- fills -------------------------------------------------------------------------

    def _price(self, spec: ContractSpec, action: str) -> float:
        q = self._quotes.get(spec.symbol)
        if q is not None:
            side = q.ask if action == "BUY" else q.bid
            for price in (side, q.last, q.mid):
                if price is not None:
                    return price
        return _DEFAULT_PRICES.get(spec.sec_type, 1.0)

    def _execute(
        self, spec: ContractSpec, action: str, quantity: float, price: float, account: str, order_id: int,
        client_id: int, perm_id: int, order_ref: str,
    ) -> m.ExecRecord:
        seq = next(self._exec_seq)
        record = m.ExecRecord(
            exec_id=f"{self._exec_prefix}.{seq:08x}.01.01",
            order_id=order_id,
            client_id=client_id,
            perm_id=perm_id,
            account=account,
            contract=spec,
            side="BOT" if action == "BUY" else "SLD",
            shares=quantity,
            price=price,
            time=datetime.now(UTC).replace(microsecond=0),
            cum_qty=quantity,
            avg_price=price,
            commission=self.commission(spec, quantity, price),
            order_ref=order_ref,
        )
        self._executions.append(record)
        key = (account, spec.symbol)
        old_qty, old_cost = self._positions.get(key, (0.0, 0.0))
        delta = quantity if action == "BUY" else -quantity
        new_qty = old_qty + delta
        if new_qty == 0:
            new_cost = 0.0
        elif old_qty == 0 or (old_qty > 0) != (new_qty > 0):
            new_cost = price
        elif abs(new_qty) > abs(old_qty):
            new_cost = (old_qty * old_cost + delta * price) / new_qty
        else:
            new_cost = old_cost
        self._positions[key] = (new_qty, new_cost)
        update = m.position(account, spec, new_qty, new_cost)
        for session in self._sessions:
            if session.positions:
                session.send(update)
        self._notify()
        return record
