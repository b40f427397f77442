"""TWS API replies (server → client), as pure functions returning field lists.

Each function builds one message as the list of fields that
:func:`~rxstream.testing.codec.encode_frame` frames; field counts follow
ib_insync 0.9.86's ``decoder.py`` (how many fields it unpacks) at server
version 176. Requests are parsed in :mod:`rxstream.testing.requests`.

>>> tick_price(7, TickType.BID, 1.1212, 1000000.0) == [ServerMsg.TICK_PRICE, 6, 7, 1, 1.1212, 1e6, 0]
True
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeAlias

from ..ibkr.symbols import ContractSpec
from .broker import ExecRecord, Margin, PortfolioItem
from .requests import PlaceOrder

__all__ = [
    "ERROR_MESSAGES",
    "SERVER_VERSION",
    "HistoricalBar",
    "ServerMsg",
    "TickType",
    "account_download_end",
    "account_summary",
    "account_summary_end",
    "account_update_multi_end",
    "account_update_time",
    "account_value",
    "commission_report",
    "completed_orders_end",
    "contract_data",
    "contract_data_end",
    "current_time",
    "empty_list",
    "error",
    "execution_data",
    "execution_data_end",
    "historical_data",
    "historical_data_update",
    "ib_time",
    "managed_accounts",
    "next_valid_id",
    "open_order",
    "open_order_end",
    "order_status",
    "portfolio_value",
    "position",
    "position_end",
    "tick_frames",
    "tick_price",
    "tick_size",
    "tick_snapshot_end",
]

ERROR_MESSAGES: dict[int, str] = {
    200: "No security definition has been found for the request",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2105: "HMDS data farm connection is broken:ushmds",
    2106: "HMDS data farm connection is OK:ushmds",
}
"""The text TWS sends with the error codes the simulator sends most."""

SERVER_VERSION = 176
"""The server version the simulator announces (ib_insync 0.9.86 speaks 157..176)."""


class ServerMsg(enum.IntEnum):
    """Ids of messages a server sends."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    RECEIVE_FA = 16
    HISTORICAL_DATA = 17
    SCANNER_PARAMETERS = 19
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    COMMISSION_REPORT = 59
    POSITION = 61
    TICK_SNAPSHOT_END = 57
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI_END = 74
    FAMILY_CODES = 78
    MKT_DEPTH_EXCHANGES = 80
    NEWS_PROVIDERS = 85
    HISTORICAL_DATA_UPDATE = 90
    MARKET_RULE = 93
    COMPLETED_ORDERS_END = 102


class TickType(enum.IntEnum):
    """The tick types the simulator sends."""

    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    VOLUME = 8


# --- replies ----------------------------------------------------------------------------

Fields: TypeAlias = list[Any]


def ib_time(t: datetime) -> str:
    """A time as TWS writes executions: ``YYYYMMDD HH:MM:SS UTC`` (zone explicit, never local)."""
    return t.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def _contract11(c: ContractSpec) -> list[Any]:
    # conId,symbol,secType,lastTradeDate,strike,right,multiplier,exchange,currency,localSymbol,tradingClass
    return [c.con_id, c.ib_symbol, c.sec_type, "", 0.0, "", "", c.exchange, c.currency, c.local_symbol,
            c.trading_class]


def next_valid_id(order_id: int) -> Fields:
    """``9,1,orderId``: seeds the client's request and order id counter."""
    return [ServerMsg.NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: Sequence[str]) -> Fields:
    """``15,1,acct1,acct2``: the client is ready once it has this and a next valid id."""
    return [ServerMsg.MANAGED_ACCTS, 1, ",".join(accounts)]


def tick_price(req_id: int, tick_type: int, price: float, size: float, attr_mask: int = 0) -> Fields:
    """``1,6,reqId,tickType,price,size,attrMask``."""
    return [ServerMsg.TICK_PRICE, 6, req_id, int(tick_type), price, size, attr_mask]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    """``2,6,reqId,tickType,size``."""
    return [ServerMsg.TICK_SIZE, 6, req_id, int(tick_type), size]


_PACK_LENGTH = struct.Struct(">I").pack


def tick_frames(
    req_id: int,
    bid: float | None,
    ask: float | None,
    last: float | None = None,
    bid_size: float | None = None,
    ask_size: float | None = None,
    last_size: float | None = None,
    volume: float | None = None,
) -> bytes:
    """A quote as ready-framed TICK_PRICE (bid, ask, last) and TICK_SIZE (volume) messages.

    The same bytes as framing :func:`tick_price`/:func:`tick_size` one by one
    (a test checks it), about four times faster: this is the streaming hot path.
    """
    # A bid or ask of size 0 means "no quote on this side" to TWS clients (ib_async then drops the
    # price), so a side whose size the tick file does not give is sent with size 1.
    out = b""
    if bid is not None:
        body = f"1\x006\x00{req_id}\x001\x00{bid!r}\x00{float(1 if bid_size is None else bid_size)!r}\x000\x00".encode()
        out += _PACK_LENGTH(len(body)) + body
    if ask is not None:
        body = f"1\x006\x00{req_id}\x002\x00{ask!r}\x00{float(1 if ask_size is None else ask_size)!r}\x000\x00".encode()
        out += _PACK_LENGTH(len(body)) + body
    if last is not None:
        body = f"1\x006\x00{req_id}\x004\x00{last!r}\x00{float(last_size or 0.0)!r}\x000\x00".encode()
        out += _PACK_LENGTH(len(body)) + body
    if volume is not None:
        body = f"2\x006\x00{req_id}\x008\x00{float(volume)!r}\x00".encode()
        out += _PACK_LENGTH(len(body)) + body
    return out


def error(req_id: int, code: int, message: str) -> Fields:
    """``4,2,reqId,code,message,advancedOrderRejectJson``; ``req_id`` -1 for system messages."""
    return [ServerMsg.ERR_MSG, 2, req_id, code, message, ""]


def current_time(epoch_seconds: int) -> Fields:
    """``49,1,epochSeconds``."""
    return [ServerMsg.CURRENT_TIME, 1, epoch_seconds]


def position(account: str, contract: ContractSpec, quantity: float, avg_cost: float) -> Fields:
    """``61,3,account,<11 contract fields>,position,avgCost``."""
    return [ServerMsg.POSITION, 3, account, *_contract11(contract), quantity, avg_cost]


def position_end() -> Fields:
    """``62,1``."""
    return [ServerMsg.POSITION_END, 1]


def open_order_end() -> Fields:
    """``53,1``."""
    return [ServerMsg.OPEN_ORDER_END, 1]


def completed_orders_end() -> Fields:
    """``102``."""
    return [ServerMsg.COMPLETED_ORDERS_END]


def account_value(key: str, value: object, currency: str, account: str) -> Fields:
    """``6,2,key,value,currency,account``."""
    return [ServerMsg.ACCT_VALUE, 2, key, value, currency, account]


def account_download_end(account: str) -> Fields:
    """``54,1,account``."""
    return [ServerMsg.ACCT_DOWNLOAD_END, 1, account]


def account_update_multi_end(req_id: int) -> Fields:
    """``74,1,reqId``."""
    return [ServerMsg.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary_end(req_id: int) -> Fields:
    """``64,1,reqId``."""
    return [ServerMsg.ACCOUNT_SUMMARY_END, 1, req_id]


def contract_data(req_id: int, c: ContractSpec) -> Fields:
    """CONTRACT_DATA at server version 164+ (no version field): 40 fields."""
    long_name = f"{c.ib_symbol}.{c.currency}" if c.is_forex else c.ib_symbol
    min_tick = 0.00005 if c.is_forex else 0.01
    hours = "20200101:0000-20200101:2359"
    return [
        ServerMsg.CONTRACT_DATA, req_id, c.ib_symbol, c.sec_type, "", 0.0, "", c.exchange, c.currency,
        c.local_symbol, c.trading_class, c.trading_class, c.con_id, min_tick,
        "", "LMT,MKT", c.exchange, 1, 0, long_name, c.primary_exchange, "", "", "", "", "UTC", hours,
        hours, "", "", 0, 1, "", "", "26,26", "", "COMMON" if not c.is_forex else "",
        1, 1, 1,
    ]


def contract_data_end(req_id: int) -> Fields:
    """``52,1,reqId``."""
    return [ServerMsg.CONTRACT_DATA_END, 1, req_id]


def execution_data(req_id: int, e: ExecRecord) -> Fields:
    """EXECUTION_DATA (31 fields); ``req_id`` -1 for a live fill."""
    return [
        ServerMsg.EXECUTION_DATA, req_id, e.order_id, *_contract11(e.contract), e.exec_id, ib_time(e.time),
        e.account, e.contract.exchange if e.contract.exchange != "SMART" else "ISLAND", e.side, e.shares,
        e.price, e.perm_id, e.client_id, 0, e.cum_qty, e.avg_price, e.order_ref, "", "", "", 2,
    ]


def execution_data_end(req_id: int) -> Fields:
    """``55,1,reqId``."""
    return [ServerMsg.EXECUTION_DATA_END, 1, req_id]


def commission_report(exec_id: str, commission: float, currency: str = "USD", realized_pnl: float = 0.0) -> Fields:
    """``59,1,execId,commission,currency,realizedPNL,yield,yieldRedemptionDate`` (realized P&L empty when 0)."""
    return [ServerMsg.COMMISSION_REPORT, 1, exec_id, commission, currency, realized_pnl or "", "", ""]


def order_status(
    order_id: int, status: str, filled: float, remaining: float, avg_fill_price: float, perm_id: int,
    last_fill_price: float, client_id: int,
) -> Fields:
    """ORDER_STATUS (no version field): 12 fields."""
    return [
        ServerMsg.ORDER_STATUS, order_id, status, filled, remaining, avg_fill_price, perm_id, 0,
        last_fill_price, client_id, "", "",
    ]


def open_order(
    order: PlaceOrder, contract: ContractSpec, *, client_id: int, perm_id: int, status: str,
    what_if: tuple[Margin, Margin, float] | None = None,
) -> Fields:
    """OPEN_ORDER at server version 176 (no version field): 128 fields, echoing the order.

    ``what_if`` (margin before, margin after, commission) makes it the answer to a what-if order:
    its order state carries the margins and the commission.
    """
    head = [
        ServerMsg.OPEN_ORDER, order.order_id, *_contract11(contract),
        order.action, order.quantity, order.order_type, order.lmt_price, order.aux_price,
        order.tif or "DAY", "", order.account, "O", 0, order.order_ref, client_id, perm_id,
        0, 0, 0.0, "",  # outsideRth, hidden, discretionaryAmt, goodAfterTime
    ]
    # sharesAllocation .. deltaNeutralAuxPrice: 34 fields (index 30 to 63)
    middle: list[Any] = [""] * 34
    tail: list[Any] = [
        "0", "", "", "", "", "", "",  # continuousUpdate .. comboLegsDescrip
        0, 0, 0,  # numLegs, numOrderLegs, numSmartComboParams
        "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "",  # hedgeType
        0, "", "", 0, 0,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dncPresent
        "",  # algoStrategy
        0, 1 if what_if else 0, status,  # solicited, whatIf, status
        *_margins(what_if),  # margin before/change/after, commission, min, max, currency, warningText
        0, 0,  # randomizeSize, randomizePrice
        0,  # numConditions
        *[""] * 16,  # adjustedOrderType .. usePriceMgmtAlgo
        "", "", "",  # duration, postToAts, autoCancelParent
        "", "", "", "", "",  # minTradeQty .. midOffsetAtHalf
    ]
    return head + middle + tail


def _margins(what_if: tuple[Margin, Margin, float] | None) -> list[Any]:
    if what_if is None:
        return [""] * 14
    before, after, commission = what_if
    change = [after.init - before.init, after.maint - before.maint, after.equity_with_loan - before.equity_with_loan]
    amounts = [*before, *change, *after]
    return [*(round(a, 2) for a in amounts), commission, commission, commission, "USD", ""]


def tick_snapshot_end(req_id: int) -> Fields:
    """``57,1,reqId``: the end of a market data snapshot."""
    return [ServerMsg.TICK_SNAPSHOT_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: object, currency: str) -> Fields:
    """``63,1,reqId,account,tag,value,currency``."""
    return [ServerMsg.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def portfolio_value(item: PortfolioItem) -> Fields:
    """PORTFOLIO_VALUE ``7,8,<contract>,position,marketPrice,marketValue,averageCost,unrealizedPNL,
    realizedPNL,account``."""
    c = item.contract
    return [
        ServerMsg.PORTFOLIO_VALUE, 8, c.con_id, c.ib_symbol, c.sec_type, "", 0.0, "", "", c.primary_exchange,
        c.currency, c.local_symbol, c.trading_class, item.position, item.market_price, item.market_value,
        item.avg_cost, item.unrealized_pnl, item.realized_pnl, item.account,
    ]


def account_update_time(t: datetime) -> Fields:
    """``8,1,HH:MM``."""
    return [ServerMsg.ACCT_UPDATE_TIME, 1, t.strftime("%H:%M")]


class HistoricalBar(NamedTuple):
    """One bar as HISTORICAL_DATA carries it; ``date`` is already formatted for the request."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float = -1.0
    average: float = -1.0
    bar_count: int = -1


def historical_data(req_id: int, start: str, end: str, bars: Sequence[HistoricalBar]) -> Fields:
    """``17,reqId,startDateStr,endDateStr,numBars,`` then per bar
    ``date,open,high,low,close,volume,average,barCount``."""
    out: list[Any] = [ServerMsg.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for bar in bars:
        out.extend(bar)
    return out


def historical_data_update(req_id: int, bar: HistoricalBar) -> Fields:
    """``90,reqId,barCount,date,open,close,high,low,average,volume`` (close before high, as TWS sends it)."""
    return [
        ServerMsg.HISTORICAL_DATA_UPDATE, req_id, bar.bar_count, bar.date, bar.open, bar.close, bar.high, bar.low,
        bar.average, bar.volume,
    ]


_EMPTY_LISTS: dict[int, Fields] = {
    18: [ServerMsg.RECEIVE_FA, 1, 1, ""],
    24: [ServerMsg.SCANNER_PARAMETERS, 1, ""],
    80: [ServerMsg.FAMILY_CODES, 0],
    82: [ServerMsg.MKT_DEPTH_EXCHANGES, 0],
    85: [ServerMsg.NEWS_PROVIDERS, 0],
}


def empty_list(msg_id: int, arg: str = "") -> Fields:
    """The empty answer to a request the client waits on by name (``msg_id`` is the request's id)."""
    if msg_id == 91:  # REQ_MARKET_RULE: one increment for every price
        return [ServerMsg.MARKET_RULE, arg, 1, 0.0, 0.01]
    return list(_EMPTY_LISTS[msg_id])
