"""What the simulator answers to each request: one handler per request record, in an explicit table.

:class:`Handlers` holds the client sessions and is handed the broker, the
contract book and the tick history; it knows nothing of sockets (a session
writes to anything with ``write``, ``is_closing`` and ``close``). A request
record without a handler raises :class:`~rxstream.errors.UsageError` in :meth:`Handlers.handle`, and
a test checks that the table covers every record :func:`parse_request` can
return, so a new or renamed request cannot be silently dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..errors import UsageError
from ..events import Tick
from . import messages as m
from . import requests as rq
from .broker import Broker
from .codec import Handshake
from .contracts import ContractBook
from .desk import Desk
from .history import LiveBars, Reject, SidedBar, TickHistory, bar_date, build_bars, plan
from .session import Session

__all__ = ["MIN_CLIENT_VERSION", "Handlers"]

log = logging.getLogger("rxstream.testing.server")

MIN_CLIENT_VERSION = 157


class Handlers:
    """The simulator's answers, one handler per request record.

    ``on_market_data`` is called when a client first needs ticks streamed. Orders and accounts are
    answered by :attr:`desk`; connection, contracts, market data and historical data here.
    """

    def __init__(
        self, *, account: str, broker: Broker, contracts: ContractBook, history: TickHistory,
        held_client_ids: set[int], on_market_data: Callable[[], None], farm_messages: bool = True,
        commission_reports: bool = True, resend_executions: bool = True,
    ) -> None:
        self.account = account
        self.broker = broker
        self.contracts = contracts
        self.history = history
        self.held_client_ids = held_client_ids
        self.on_market_data = on_market_data
        self.farm_messages = farm_messages
        self.sessions: list[Session] = []
        self.desk = desk = Desk(
            account=account, broker=broker, contracts=contracts, sessions=self.sessions,
            commission_reports=commission_reports, resend_executions=resend_executions,
        )
        self._table: dict[type, Callable[[Session, Any], object]] = {
            rq.StartApi: self._start_api, rq.ReqManagedAccts: lambda s, r: s.send(m.managed_accounts([account])),
            rq.ReqCurrentTime: lambda s, r: s.send(m.current_time(int(time.time()))),
            rq.ReqIds: lambda s, r: s.send(m.next_valid_id(desk.next_order_id)),
            rq.ReqPositions: desk.positions, rq.ReqOpenOrders: desk.open_orders,
            rq.ReqCompletedOrders: lambda s, r: s.send(m.completed_orders_end()),
            rq.ReqExecutions: desk.executions, rq.ReqAccountUpdates: desk.account_updates,
            rq.ReqAccountUpdatesMulti: desk.account_updates_multi, rq.ReqAccountSummary: desk.account_summary,
            rq.PlaceOrder: desk.place_order, rq.CancelOrder: desk.cancel_order, rq.ReqGlobalCancel: desk.global_cancel,
            rq.ReqContractData: self._contract_data,
            rq.ReqMktData: self._mkt_data, rq.CancelMktData: lambda s, r: s.market_data.pop(r.req_id, None),
            rq.ReqHistoricalData: self._historical_data,
            rq.CancelHistoricalData: lambda s, r: s.live_bars.pop(r.req_id, None),
            rq.EmptyListRequest: lambda s, r: s.send(m.empty_list(r.msg_id, r.arg)),
            rq.Unsupported: self._unsupported, rq.Ignored: lambda s, r: log.debug("TWS simulator: ignoring %s", r),
        }

    @property
    def handled(self) -> frozenset[type]:
        """The request records with a handler."""
        return frozenset(self._table)

    def handshake(self, session: Session, hello: Handshake) -> None:
        """Answer the version exchange (or close a client too old to talk to)."""
        if hello.max_version < MIN_CLIENT_VERSION:
            log.warning("TWS simulator: client speaks v%d..%d, too old", *hello[:2])
            session.writer.close()
            return
        session.version = min(m.SERVER_VERSION, hello.max_version)
        session.send([session.version, datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")])

    def handle(self, session: Session, request: rq.Request) -> None:
        """Answer one request; raises :class:`~rxstream.errors.UsageError` for a record type without a handler."""
        handler = self._table.get(type(request))
        if handler is None:
            raise UsageError("TWS simulator", f"no handler for the request record {type(request).__name__}")
        if not session.ready and not isinstance(request, rq.StartApi):
            log.warning("TWS simulator: request before START_API: %s", request)
            return
        handler(session, request)

    # --- the quote stream ----------------------------------------------------------

    def tick(self, tick: Tick) -> int:
        """Send ``tick`` to its subscribers, fill resting orders it makes marketable, grow live bars;
        returns how many subscriptions got it."""
        symbol = tick.symbol
        self.history.clock = tick.time
        sent = 0
        for session in self.sessions:
            for req_id, subscribed in session.market_data.items():
                if subscribed == symbol and not session.writer.is_closing():
                    session.writer.write(m.tick_frames(req_id, *tick[2:]))
                    sent += 1
            for bar_symbol, bars in session.live_bars.values():
                if bar_symbol == symbol:
                    bars.add(tick)
        for order, record in self.broker.quote(tick):
            self.desk.report_fill(order, record)
        return sent

    def error(self, code: int, req_id: int = -1, message: str | None = None) -> int:
        """Send error ``code`` to every ready client; returns how many got it."""
        text = message if message is not None else m.ERROR_MESSAGES.get(code, f"simulated error {code}")
        ready = [s for s in self.sessions if s.ready]
        for session in ready:
            session.send(m.error(req_id, code, text))
        return len(ready)

    # --- connection and sync -------------------------------------------------------

    def _start_api(self, session: Session, r: rq.StartApi) -> None:
        in_use = r.client_id in self.held_client_ids or any(
            s.ready and s.client_id == r.client_id for s in self.sessions
        )
        if in_use:
            session.send(m.error(-1, 326, m.ERROR_MESSAGES[326]))
            session.writer.close()
            return
        session.client_id = r.client_id
        session.ready = True
        session.send(m.next_valid_id(self.desk.next_order_id), m.managed_accounts([self.account]))
        if self.farm_messages:
            session.send(*(m.error(-1, code, m.ERROR_MESSAGES[code]) for code in (2104, 2106)))

    # --- contracts and market data ---------------------------------------------------

    def _contract_data(self, session: Session, r: rq.ReqContractData) -> None:
        spec = self.contracts.resolve(r.contract)
        if spec is None:
            session.send(m.error(r.req_id, 200, m.ERROR_MESSAGES[200]))
        else:
            session.send(m.contract_data(r.req_id, spec), m.contract_data_end(r.req_id))

    def _mkt_data(self, session: Session, r: rq.ReqMktData) -> None:
        spec = self.contracts.resolve(r.contract)
        if spec is None:
            session.send(m.error(r.req_id, 200, m.ERROR_MESSAGES[200]))
            return
        quote = self.broker.last_quote(spec.symbol)
        frames = m.tick_frames(r.req_id, *quote[2:]) if quote is not None else b""
        if not r.snapshot:
            session.market_data[r.req_id] = spec.symbol
            self.on_market_data()
        if frames and not session.writer.is_closing():
            session.writer.write(frames)
        if r.snapshot:
            session.send(m.tick_snapshot_end(r.req_id))

    def _historical_data(self, session: Session, r: rq.ReqHistoricalData) -> None:
        spec = self.contracts.resolve(r.contract)
        if spec is None:
            session.send(m.error(r.req_id, 200, m.ERROR_MESSAGES[200]))
            return
        if r.keep_up_to_date and self.history.clock is None:
            self.on_market_data()  # the replay starts, and "now" is its first tick
            self.history.clock = self.history.first(spec.symbol)
        got = plan(r.bar_size, r.duration, r.end, r.what_to_show, self.history.now())
        ticks = self.history.ticks(spec.symbol, got.start, got.end) if not isinstance(got, Reject) else []
        if not isinstance(got, Reject) and r.what_to_show.upper() == "TRADES" and not any(t.last for t in ticks):
            got = Reject(162, f"Historical Market Data Service error message:No data of type TRADES for "
                              f"{spec.local_symbol}")
        elif not isinstance(got, Reject) and not ticks:
            got = Reject(162, "Historical Market Data Service error message:HMDS query returned no data: "
                              f"{spec.local_symbol}@{spec.exchange} {r.what_to_show}")
        if isinstance(got, Reject):
            session.send(m.error(r.req_id, got.code, got.message))
            return
        step, fmt = got.step, r.format_date

        def wire(b: SidedBar) -> m.HistoricalBar:
            return m.HistoricalBar(bar_date(b.start, step, fmt), b.open, b.high, b.low, b.close, bar_count=b.ticks)

        bars = [wire(b) for b in build_bars(ticks, step, got.what)]
        session.send(m.historical_data(r.req_id, m.ib_time(got.start), m.ib_time(got.end), bars))
        if r.keep_up_to_date:
            sent: list[SidedBar] = []  # the bars already in the history are not sent again
            live = LiveBars(step, got.what, ticks[0].time if ticks else got.end, sent.append)
            for t in ticks:
                live.add(t)
            live.on_bar = lambda b: session.send(m.historical_data_update(r.req_id, wire(b)))
            session.live_bars[r.req_id] = (spec.symbol, live)

    def _unsupported(self, session: Session, r: rq.Unsupported) -> None:
        session.send(m.error(r.req_id, 503, f"The TWS is out of date and must be upgraded: rxstream sim does "
                                            f"not support {r.name}"))

