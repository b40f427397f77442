"""The broker's side of the TWS API: orders, fills, executions, positions and account updates.

:class:`Desk` turns the simulator's :class:`~rxstream.testing.broker.Broker`
(pure bookkeeping) into TWS messages for the connected sessions: it answers
PLACE_ORDER (including what-if orders), CANCEL_ORDER, global cancel, open
orders, executions, positions and account updates, and tells each session of
fills and position changes as they happen.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..ibkr.symbols import ContractSpec
from . import messages as m
from . import requests as rq
from .broker import Broker, ExecRecord, Order
from .contracts import ContractBook
from .session import Session

__all__ = ["Desk"]


class Desk:
    """Orders and accounts for ``sessions`` (the live list of connections, shared with the handlers)."""

    def __init__(
        self, *, account: str, broker: Broker, contracts: ContractBook, sessions: list[Session],
        commission_reports: bool = True, resend_executions: bool = True,
    ) -> None:
        self.account = account
        self.broker = broker
        self.contracts = contracts
        self.sessions = sessions
        self.commission_reports = commission_reports
        self.resend_executions = resend_executions
        self.next_order_id = 1
        self._perm_ids = itertools.count(1_000_001)

    def new_perm_id(self) -> int:
        """A permId no order has had."""
        return next(self._perm_ids)

    def positions(self, session: Session, r: rq.ReqPositions) -> None:
        session.positions = r.subscribe
        if r.subscribe:
            held = self.broker.holdings()
            session.send(*(m.position(a, h.contract, h.quantity, h.avg_cost) for (a, _), h in held.items()),
                         m.position_end())

    def open_orders(self, session: Session, r: rq.ReqOpenOrders) -> None:
        if r.kind == "auto":
            return
        session.send(*(
            m.open_order(o.echo, o.contract, client_id=o.client_id, perm_id=o.perm_id, status="Submitted")
            for o in self.broker.resting if r.kind == "all" or o.client_id == session.client_id
        ), m.open_order_end())

    def executions(self, session: Session, r: rq.ReqExecutions) -> None:
        side = r.side[:3].upper().replace("BUY", "BOT").replace("SEL", "SLD")
        out: list[list[Any]] = []
        for e in self.broker.executions if self.resend_executions else ():
            if ((r.client_id and e.client_id != r.client_id) or (r.account and e.account != r.account)
                    or (r.symbol and e.contract.ib_symbol != r.symbol)
                    or (r.sec_type and e.contract.sec_type != r.sec_type) or (r.side and e.side != side)):
                continue
            out.append(m.execution_data(r.req_id, e))
            if self.commission_reports:
                out.append(m.commission_report(e.exec_id, e.commission, e.contract.currency, e.realized_pnl))
        session.send(*out, m.execution_data_end(r.req_id))

    # --- account -------------------------------------------------------------------

    def account_updates(self, session: Session, r: rq.ReqAccountUpdates) -> None:
        session.account_updates = (r.account or self.account) if r.subscribe else None
        if session.account_updates is not None:
            self._send_account(session, session.account_updates)

    def _send_account(self, session: Session, account: str) -> None:
        values = [m.account_value(tag, value, cur, account) for tag, value, cur in self.broker.account_values(account)]
        items = [m.portfolio_value(item) for item in self.broker.portfolio(account)]
        now = self.broker.clock()
        session.send(*values, *items, m.account_update_time(now), m.account_download_end(account))

    def account_updates_multi(self, session: Session, r: rq.ReqAccountUpdatesMulti) -> None:
        if r.subscribe:
            session.send(m.account_update_multi_end(r.req_id))

    def account_summary(self, session: Session, r: rq.ReqAccountSummary) -> None:
        if not r.subscribe:
            return
        wanted = {t.strip() for t in r.tags.split(",") if t.strip()}
        session.send(*(
            m.account_summary(r.req_id, self.account, tag, value, cur)
            for tag, value, cur in self.broker.account_values(self.account) if tag in wanted
        ), m.account_summary_end(r.req_id))

    # --- orders ----------------------------------------------------------------------

    def place_order(self, session: Session, r: rq.PlaceOrder) -> None:
        client_id = session.client_id or 0
        self.next_order_id = max(self.next_order_id, r.order_id + 1)
        spec = self.contracts.resolve(r.contract)
        if spec is None:
            session.send(m.error(r.order_id, 200, m.ERROR_MESSAGES[200]))
            return
        order = Order(r.order_id, client_id, 0 if r.what_if else self.new_perm_id(), r.account or self.account,
                      spec, r.action, r.quantity, r.order_type, r.lmt_price, r.order_ref, r)
        if r.what_if:
            session.send(m.open_order(r, spec, client_id=client_id, perm_id=0, status="PreSubmitted",
                                      what_if=self.broker.what_if(order)))
            return
        done = self.broker.submit(order)
        if done.rejected is not None:
            session.send(m.error(r.order_id, *done.rejected))
            return
        session.send(
            m.open_order(r, spec, client_id=client_id, perm_id=order.perm_id, status="Submitted"),
            m.order_status(r.order_id, "Submitted", 0.0, r.quantity, 0.0, order.perm_id, 0.0, client_id),
        )
        if done.execution is not None:
            self.report_fill(order, done.execution)

    def report_fill(self, order: Order, record: ExecRecord) -> None:
        """Tell the order's client (if connected) of its fill, and everyone of the position it moved."""
        p = record.price
        messages = [
            m.execution_data(-1, record),
            m.open_order(order.echo, order.contract, client_id=order.client_id, perm_id=order.perm_id,
                         status="Filled"),
            m.order_status(order.order_id, "Filled", order.quantity, 0.0, p, order.perm_id, p, order.client_id),
        ]
        if self.commission_reports:
            messages.append(m.commission_report(record.exec_id, record.commission, order.contract.currency,
                                                record.realized_pnl))
        for session in self.sessions:
            if order.echo is not None and session.ready and session.client_id == order.client_id:
                session.send(*messages)
        self.moved(record.account, order.contract)

    def moved(self, account: str, contract: ContractSpec) -> None:
        """Send the position ``account`` now holds in ``contract`` to the sessions that follow it."""
        holding = self.broker.holding(account, contract.symbol)
        if holding is None:
            return
        update = m.position(account, contract, holding.quantity, holding.avg_cost)
        for session in self.sessions:
            if session.positions:
                session.send(update)
            if session.account_updates == account:
                self._send_account(session, account)

    def cancel_order(self, session: Session, r: rq.CancelOrder) -> None:
        order = self.broker.cancel(session.client_id or 0, r.order_id)
        if order is None:
            session.send(m.error(r.order_id, 10147, f"OrderId {r.order_id} that needs to be cancelled is not found."))
            return
        session.send(self._cancelled(order))

    def global_cancel(self, session: Session, r: rq.ReqGlobalCancel) -> None:
        for order in self.broker.cancel_all():
            for s in self.sessions:
                if s.client_id == order.client_id:
                    s.send(self._cancelled(order))

    @staticmethod
    def _cancelled(o: Order) -> list[Any]:
        return m.order_status(o.order_id, "Cancelled", 0.0, o.quantity, 0.0, o.perm_id, 0.0, o.client_id)
