"""TWS API messages the simulator reads and writes, as pure functions over field lists.

Requests (client → server) are parsed by :func:`parse_request` into small
records; replies (server → client) are built by one function each, returning
the field list that :func:`~rxstream.testing.codec.encode_frame` frames. Field
lists follow ib_insync 0.9.86's ``client.py`` (what it sends) and
``decoder.py`` (how many fields it unpacks) at server version 176.

>>> parse_request(["49", "1"])
ReqCurrentTime()
>>> tick_price(7, TickType.BID, 1.1212, 1000000.0) == [ServerMsg.TICK_PRICE, 6, 7, 1, 1.1212, 1e6, 0]
True
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeAlias

from ..errors import ProtocolError
from ..ibkr.symbols import ContractSpec

__all__ = [
    "SERVER_VERSION",
    "CancelMktData",
    "CancelOrder",
    "ClientMsg",
    "ContractFields",
    "ExecRecord",
    "ReqAccountSummary",
    "ReqAccountUpdates",
    "ReqAccountUpdatesMulti",
    "ReqCompletedOrders",
    "ReqContractData",
    "ReqCurrentTime",
    "ReqExecutions",
    "ReqIds",
    "ReqMktData",
    "ReqOpenOrders",
    "ReqPositions",
    "Request",
    "ServerMsg",
    "StartApi",
    "TickType",
    "Unhandled",
    "account_download_end",
    "account_summary_end",
    "account_update_multi_end",
    "account_value",
    "commission_report",
    "completed_orders_end",
    "contract_data",
    "contract_data_end",
    "current_time",
    "error",
    "execution_data",
    "execution_data_end",
    "ib_time",
    "managed_accounts",
    "next_valid_id",
    "open_order",
    "open_order_end",
    "order_status",
    "parse_request",
    "position",
    "position_end",
    "tick_frames",
    "tick_price",
    "tick_size",
]

SERVER_VERSION = 176
"""The server version the simulator announces (ib_insync 0.9.86 speaks 157..176)."""


class ClientMsg(enum.IntEnum):
    """Ids of messages a client sends."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_CURRENT_TIME = 49
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_COMPLETED_ORDERS = 99


class ServerMsg(enum.IntEnum):
    """Ids of messages a server sends."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    COMMISSION_REPORT = 59
    POSITION = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI_END = 74
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


# --- requests --------------------------------------------------------------------------


class ContractFields(NamedTuple):
    """The twelve contract fields a client sends in market data, order and details requests."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: str
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str


class StartApi(NamedTuple):
    """``71,2,clientId,optionalCapabilities``."""

    client_id: int
    capabilities: str = ""


class ReqMktData(NamedTuple):
    """Subscribe to (or snapshot) market data for a contract."""

    req_id: int
    contract: ContractFields
    generic_ticks: str = ""
    snapshot: bool = False


class CancelMktData(NamedTuple):
    """``2,2,reqId``."""

    req_id: int


class PlaceOrder(NamedTuple):
    """The order fields the simulator uses (the rest are read past)."""

    order_id: int
    contract: ContractFields
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str


class CancelOrder(NamedTuple):
    """``4,1,orderId,manualCancelOrderTime``."""

    order_id: int


class ReqContractData(NamedTuple):
    """Contract details, as ``qualifyContracts`` asks for them."""

    req_id: int
    contract: ContractFields


class ReqExecutions(NamedTuple):
    """Past executions, optionally filtered (empty/zero fields match everything)."""

    req_id: int
    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


class ReqPositions(NamedTuple):
    """``61,1`` subscribe, or ``64,1`` cancel."""

    subscribe: bool = True


class ReqOpenOrders(NamedTuple):
    """``5,1`` (this client's), ``16,1`` (all) or ``15,1,bAutoBind``."""

    kind: str = "open"


class ReqCompletedOrders(NamedTuple):
    """``99,apiOnly``."""

    api_only: bool = False


class ReqAccountUpdates(NamedTuple):
    """``6,2,subscribe,acctCode``."""

    subscribe: bool
    account: str


class ReqAccountUpdatesMulti(NamedTuple):
    """``76,1,reqId,account,modelCode,ledgerAndNLV`` (or ``77,1,reqId`` to cancel)."""

    req_id: int
    account: str = ""
    subscribe: bool = True


class ReqAccountSummary(NamedTuple):
    """``62,1,reqId,group,tags`` (or ``63,1,reqId`` to cancel)."""

    req_id: int
    subscribe: bool = True


class ReqCurrentTime(NamedTuple):
    """``49,1``."""


class ReqIds(NamedTuple):
    """``8,1,numIds``."""

    num_ids: int = 1


class Unhandled(NamedTuple):
    """A request the simulator does not model (it is logged and ignored)."""

    msg_id: int
    fields: tuple[str, ...]


Request: TypeAlias = (
    StartApi
    | ReqMktData
    | CancelMktData
    | PlaceOrder
    | CancelOrder
    | ReqContractData
    | ReqExecutions
    | ReqPositions
    | ReqOpenOrders
    | ReqCompletedOrders
    | ReqAccountUpdates
    | ReqAccountUpdatesMulti
    | ReqAccountSummary
    | ReqCurrentTime
    | ReqIds
    | Unhandled
)


def _int(text: str) -> int:
    return int(text) if text else 0


def _float(text: str) -> float | None:
    return float(text) if text else None


def _contract(fields: Sequence[str], start: int) -> ContractFields:
    part = fields[start : start + 12]
    if len(part) < 12:
        raise ProtocolError("tws.request", f"contract needs 12 fields, got {len(part)}: {list(fields)}")
    return ContractFields(_int(part[0]), *part[1:])


def _place_order(f: Sequence[str]) -> PlaceOrder:
    # 3,orderId,<12 contract>,secIdType,secId,action,qty,orderType,lmt,aux,tif,oca,account,openClose,
    # origin,orderRef,...
    return PlaceOrder(
        _int(f[1]), _contract(f, 2), f[16], float(f[17] or 0), f[18], _float(f[19]), _float(f[20]),
        f[21], f[23], f[26],
    )


_PARSERS: dict[int, Callable[[Sequence[str]], Request]] = {
    ClientMsg.START_API: lambda f: StartApi(_int(f[2]), f[3] if len(f) > 3 else ""),
    ClientMsg.REQ_MKT_DATA: lambda f: ReqMktData(_int(f[2]), _contract(f, 3), f[16], f[17] == "1"),
    ClientMsg.CANCEL_MKT_DATA: lambda f: CancelMktData(_int(f[2])),
    ClientMsg.PLACE_ORDER: _place_order,
    ClientMsg.CANCEL_ORDER: lambda f: CancelOrder(_int(f[2])),
    ClientMsg.REQ_CONTRACT_DATA: lambda f: ReqContractData(_int(f[2]), _contract(f, 3)),
    ClientMsg.REQ_EXECUTIONS: lambda f: ReqExecutions(_int(f[2]), _int(f[3]), *f[4:10]),
    ClientMsg.REQ_POSITIONS: lambda f: ReqPositions(True),
    ClientMsg.CANCEL_POSITIONS: lambda f: ReqPositions(False),
    ClientMsg.REQ_OPEN_ORDERS: lambda f: ReqOpenOrders("open"),
    ClientMsg.REQ_ALL_OPEN_ORDERS: lambda f: ReqOpenOrders("all"),
    ClientMsg.REQ_AUTO_OPEN_ORDERS: lambda f: ReqOpenOrders("auto"),
    ClientMsg.REQ_COMPLETED_ORDERS: lambda f: ReqCompletedOrders(f[1] == "1"),
    ClientMsg.REQ_ACCT_DATA: lambda f: ReqAccountUpdates(f[2] == "1", f[3]),
    ClientMsg.REQ_ACCOUNT_UPDATES_MULTI: lambda f: ReqAccountUpdatesMulti(_int(f[2]), f[3]),
    ClientMsg.CANCEL_ACCOUNT_UPDATES_MULTI: lambda f: ReqAccountUpdatesMulti(_int(f[2]), "", False),
    ClientMsg.REQ_ACCOUNT_SUMMARY: lambda f: ReqAccountSummary(_int(f[2])),
    ClientMsg.CANCEL_ACCOUNT_SUMMARY: lambda f: ReqAccountSummary(_int(f[2]), False),
    ClientMsg.REQ_CURRENT_TIME: lambda f: ReqCurrentTime(),
    ClientMsg.REQ_IDS: lambda f: ReqIds(_int(f[2])),
}


def parse_request(fields: Sequence[str]) -> Request:
    """Parse one client message; raises :class:`~rxstream.errors.ProtocolError` naming it if malformed."""
    try:
        msg_id = int(fields[0])
    except (IndexError, ValueError):
        raise ProtocolError("tws.request", f"bad message id in {list(fields)}") from None
    parser = _PARSERS.get(msg_id)
    if parser is None:
        return Unhandled(msg_id, tuple(fields))
    try:
        return parser(fields)
    except (IndexError, ValueError) as exc:
        name = ClientMsg(msg_id).name
        raise ProtocolError("tws.request", f"malformed {name} {list(fields)}: {exc}") from None


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


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
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


class ExecRecord(NamedTuple):
    """One execution as the simulator remembers it (to resend on REQ_EXECUTIONS)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    account: str
    contract: ContractSpec
    side: str
    """``BOT`` or ``SLD``."""
    shares: float
    price: float
    time: datetime
    cum_qty: float
    avg_price: float
    commission: float
    order_ref: str = ""


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


def commission_report(exec_id: str, commission: float, currency: str = "USD") -> Fields:
    """``59,1,execId,commission,currency,realizedPNL,yield,yieldRedemptionDate``."""
    return [ServerMsg.COMMISSION_REPORT, 1, exec_id, commission, currency, "", "", ""]


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
    order: PlaceOrder, contract: ContractSpec, *, client_id: int, perm_id: int, status: str
) -> Fields:
    """OPEN_ORDER at server version 176 (no version field): 128 fields, echoing the order."""
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
        0, 0, status,  # solicited, whatIf, status
        *[""] * 9,  # margin before/change/after
        "", "", "", "", "",  # commission, min, max, currency, warningText
        0, 0,  # randomizeSize, randomizePrice
        0,  # numConditions
        *[""] * 16,  # adjustedOrderType .. usePriceMgmtAlgo
        "", "", "",  # duration, postToAts, autoCancelParent
        "", "", "", "", "",  # minTradeQty .. midOffsetAtHalf
    ]
    return head + middle + tail
