"""TWS API requests (client → server), parsed from field lists into small records.

Field lists follow what ib_insync 0.9.86's ``client.py`` sends at server
version 176 (ib_async 2.x sends the same). :func:`parse_request` turns every
message into one record of :data:`REQUEST_TYPES`: the requests the simulator
models get their own record, requests it does not model become
:class:`Unsupported` (carrying the request id it must answer an error to) or
:class:`Ignored` (messages that expect no answer, such as cancels).

>>> parse_request(["49", "1"])
ReqCurrentTime()
>>> parse_request(["52", "2", "7", "0", "AAPL"])
Unsupported(msg_id=52, name='REQ_FUNDAMENTAL_DATA', req_id=7)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeAlias

from ..errors import ProtocolError

__all__ = [
    "REQUEST_TYPES",
    "CancelHistoricalData",
    "CancelMktData",
    "CancelOrder",
    "ClientMsg",
    "ContractFields",
    "EmptyListRequest",
    "Ignored",
    "PlaceOrder",
    "ReqAccountSummary",
    "ReqAccountUpdates",
    "ReqAccountUpdatesMulti",
    "ReqCompletedOrders",
    "ReqContractData",
    "ReqCurrentTime",
    "ReqExecutions",
    "ReqGlobalCancel",
    "ReqHistoricalData",
    "ReqIds",
    "ReqManagedAccts",
    "ReqMktData",
    "ReqOpenOrders",
    "ReqPositions",
    "Request",
    "StartApi",
    "Unsupported",
    "parse_request",
]


class ClientMsg(enum.IntEnum):
    """Ids of the messages a client sends that the simulator models."""

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
    REQ_MANAGED_ACCTS = 17
    REQ_FA = 18
    REQ_HISTORICAL_DATA = 20
    REQ_SCANNER_PARAMETERS = 24
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_FAMILY_CODES = 80
    REQ_MKT_DEPTH_EXCHANGES = 82
    REQ_NEWS_PROVIDERS = 85
    REQ_MARKET_RULE = 91
    REQ_COMPLETED_ORDERS = 99


# Requests the simulator does not model and that carry a request id: name and the field index of the id.
_UNSUPPORTED: dict[int, tuple[str, int]] = {
    10: ("REQ_MKT_DEPTH", 2), 19: ("REPLACE_FA", 4), 21: ("EXERCISE_OPTIONS", 2),
    22: ("REQ_SCANNER_SUBSCRIPTION", 1), 50: ("REQ_REAL_TIME_BARS", 2), 52: ("REQ_FUNDAMENTAL_DATA", 2),
    54: ("REQ_CALC_IMPLIED_VOLAT", 2), 55: ("REQ_CALC_OPTION_PRICE", 2), 67: ("QUERY_DISPLAY_GROUPS", 2),
    68: ("SUBSCRIBE_TO_GROUP_EVENTS", 2), 69: ("UPDATE_DISPLAY_GROUP", 2), 74: ("REQ_POSITIONS_MULTI", 2),
    78: ("REQ_SEC_DEF_OPT_PARAMS", 1), 79: ("REQ_SOFT_DOLLAR_TIERS", 1), 81: ("REQ_MATCHING_SYMBOLS", 1),
    83: ("REQ_SMART_COMPONENTS", 1), 84: ("REQ_NEWS_ARTICLE", 1), 86: ("REQ_HISTORICAL_NEWS", 1),
    87: ("REQ_HEAD_TIMESTAMP", 1), 88: ("REQ_HISTOGRAM_DATA", 1), 92: ("REQ_PNL", 1), 94: ("REQ_PNL_SINGLE", 1),
    96: ("REQ_HISTORICAL_TICKS", 1), 97: ("REQ_TICK_BY_TICK_DATA", 1), 100: ("REQ_WSH_META_DATA", 1),
    102: ("REQ_WSH_EVENT_DATA", 1), 104: ("REQ_USER_INFO", 1),
}

# Messages that expect no answer (cancels, settings, unsubscribes), by id.
_IGNORED: dict[int, str] = {
    11: "CANCEL_MKT_DEPTH", 12: "REQ_NEWS_BULLETINS", 13: "CANCEL_NEWS_BULLETINS", 14: "SET_SERVER_LOGLEVEL",
    23: "CANCEL_SCANNER_SUBSCRIPTION", 51: "CANCEL_REAL_TIME_BARS", 53: "CANCEL_FUNDAMENTAL_DATA",
    56: "CANCEL_CALC_IMPLIED_VOLAT", 57: "CANCEL_CALC_OPTION_PRICE", 59: "REQ_MARKET_DATA_TYPE",
    65: "VERIFY_REQUEST", 66: "VERIFY_MESSAGE", 70: "UNSUBSCRIBE_FROM_GROUP_EVENTS", 75: "CANCEL_POSITIONS_MULTI",
    89: "CANCEL_HISTOGRAM_DATA", 90: "CANCEL_HEAD_TIMESTAMP", 93: "CANCEL_PNL", 95: "CANCEL_PNL_SINGLE",
    98: "CANCEL_TICK_BY_TICK_DATA", 101: "CANCEL_WSH_META_DATA", 103: "CANCEL_WSH_EVENT_DATA",
}


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
    what_if: bool = False


class CancelOrder(NamedTuple):
    """``4,1,orderId,manualCancelOrderTime``."""

    order_id: int


class ReqGlobalCancel(NamedTuple):
    """``58,1``: cancel every working order."""


class ReqContractData(NamedTuple):
    """Contract details, as ``qualifyContracts`` and ``reqContractDetails`` ask for them."""

    req_id: int
    contract: ContractFields


class ReqHistoricalData(NamedTuple):
    """``20,reqId,<12 contract>,includeExpired,end,barSize,duration,useRTH,whatToShow,formatDate,``
    ``…,keepUpToDate,chartOptions``."""

    req_id: int
    contract: ContractFields
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


class CancelHistoricalData(NamedTuple):
    """``25,1,reqId``."""

    req_id: int


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
    group: str = "All"
    tags: str = ""


class ReqManagedAccts(NamedTuple):
    """``17,1``."""


class ReqCurrentTime(NamedTuple):
    """``49,1``."""


class ReqIds(NamedTuple):
    """``8,1,numIds``."""

    num_ids: int = 1


class EmptyListRequest(NamedTuple):
    """A request the client waits on by name, not id (news providers, family codes, ...): answered empty."""

    msg_id: int
    arg: str = ""


class Unsupported(NamedTuple):
    """A request the simulator does not model: it gets TWS's error for its ``req_id`` at once."""

    msg_id: int
    name: str
    req_id: int


class Ignored(NamedTuple):
    """A message that expects no answer (a cancel, a setting) and that the simulator does not model."""

    msg_id: int
    name: str


Request: TypeAlias = (
    StartApi | ReqMktData | CancelMktData | PlaceOrder | CancelOrder | ReqGlobalCancel | ReqContractData
    | ReqHistoricalData | CancelHistoricalData | ReqExecutions | ReqPositions | ReqOpenOrders | ReqCompletedOrders
    | ReqAccountUpdates | ReqAccountUpdatesMulti | ReqAccountSummary | ReqManagedAccts | ReqCurrentTime | ReqIds
    | EmptyListRequest | Unsupported | Ignored
)

REQUEST_TYPES: tuple[type[Request], ...] = (
    StartApi, ReqMktData, CancelMktData, PlaceOrder, CancelOrder, ReqGlobalCancel, ReqContractData,
    ReqHistoricalData, CancelHistoricalData, ReqExecutions, ReqPositions, ReqOpenOrders, ReqCompletedOrders,
    ReqAccountUpdates, ReqAccountUpdatesMulti, ReqAccountSummary, ReqManagedAccts, ReqCurrentTime, ReqIds,
    EmptyListRequest, Unsupported, Ignored,
)
"""Every record :func:`parse_request` returns; the server's handler table must cover each."""


def _int(text: str) -> int:
    return int(text) if text else 0


def _float(text: str) -> float | None:
    return float(text) if text else None


def _contract(fields: Sequence[str], start: int) -> ContractFields:
    part = fields[start : start + 12]
    if len(part) < 12:
        raise ProtocolError("tws.request", f"contract needs 12 fields, got {len(part)}: {list(fields)}")
    return ContractFields(_int(part[0]), *part[1:])


_UNSET_DOUBLE = 1.7976931348623157e308


def _what_if(f: Sequence[str], bag: bool) -> bool:
    """Walk the variable part of PLACE_ORDER (as ib_insync's ``placeOrder`` writes it) to ``whatIf``."""
    i = 35
    if bag:
        legs = _int(f[i])
        i += 1 + 8 * legs
        i += 1 + _int(f[i])
        i += 1 + 2 * _int(f[i])
    delta_neutral = f[i + 30]
    i += 32 + (8 if delta_neutral else 0)
    increment = _float(f[i + 6]) or 0.0
    i += 7 + (7 if 0 < increment < _UNSET_DOUBLE else 0)
    hedge = f[i + 3]
    i += 4 + (1 if hedge else 0)
    i += 4
    i += 4 if f[i] == "1" else 1  # deltaNeutralContract present
    algo = f[i]
    i += 1
    if algo:
        i += 1 + 2 * _int(f[i])
    return f[i + 1] == "1"  # after algoId


def _place_order(f: Sequence[str]) -> PlaceOrder:
    # 3,orderId,<12 contract>,secIdType,secId,action,qty,orderType,lmt,aux,tif,oca,account,openClose,
    # origin,orderRef,...
    contract = _contract(f, 2)
    return PlaceOrder(
        _int(f[1]), contract, f[16], float(f[17] or 0), f[18], _float(f[19]), _float(f[20]),
        f[21], f[23], f[26], _what_if(f, contract.sec_type == "BAG") if len(f) > 35 else False,
    )


def _historical(f: Sequence[str]) -> ReqHistoricalData:
    return ReqHistoricalData(
        _int(f[1]), _contract(f, 2), f[15], f[16], f[17], f[18] == "1", f[19], _int(f[20]), f[-2] == "1"
    )


_PARSERS: dict[int, Callable[[Sequence[str]], Request]] = {
    ClientMsg.START_API: lambda f: StartApi(_int(f[2]), f[3] if len(f) > 3 else ""),
    ClientMsg.REQ_MKT_DATA: lambda f: ReqMktData(_int(f[2]), _contract(f, 3), f[16], f[17] == "1"),
    ClientMsg.CANCEL_MKT_DATA: lambda f: CancelMktData(_int(f[2])),
    ClientMsg.PLACE_ORDER: _place_order,
    ClientMsg.CANCEL_ORDER: lambda f: CancelOrder(_int(f[2])),
    ClientMsg.REQ_GLOBAL_CANCEL: lambda f: ReqGlobalCancel(),
    ClientMsg.REQ_CONTRACT_DATA: lambda f: ReqContractData(_int(f[2]), _contract(f, 3)),
    ClientMsg.REQ_HISTORICAL_DATA: _historical,
    ClientMsg.CANCEL_HISTORICAL_DATA: lambda f: CancelHistoricalData(_int(f[2])),
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
    ClientMsg.REQ_ACCOUNT_SUMMARY: lambda f: ReqAccountSummary(_int(f[2]), True, f[3], f[4]),
    ClientMsg.CANCEL_ACCOUNT_SUMMARY: lambda f: ReqAccountSummary(_int(f[2]), False),
    ClientMsg.REQ_MANAGED_ACCTS: lambda f: ReqManagedAccts(),
    ClientMsg.REQ_CURRENT_TIME: lambda f: ReqCurrentTime(),
    ClientMsg.REQ_IDS: lambda f: ReqIds(_int(f[2])),
    ClientMsg.REQ_FA: lambda f: EmptyListRequest(ClientMsg.REQ_FA, f[2]),
    ClientMsg.REQ_SCANNER_PARAMETERS: lambda f: EmptyListRequest(ClientMsg.REQ_SCANNER_PARAMETERS),
    ClientMsg.REQ_FAMILY_CODES: lambda f: EmptyListRequest(ClientMsg.REQ_FAMILY_CODES),
    ClientMsg.REQ_MKT_DEPTH_EXCHANGES: lambda f: EmptyListRequest(ClientMsg.REQ_MKT_DEPTH_EXCHANGES),
    ClientMsg.REQ_NEWS_PROVIDERS: lambda f: EmptyListRequest(ClientMsg.REQ_NEWS_PROVIDERS),
    ClientMsg.REQ_MARKET_RULE: lambda f: EmptyListRequest(ClientMsg.REQ_MARKET_RULE, f[1]),
}


def parse_request(fields: Sequence[str]) -> Request:
    """Parse one client message; raises :class:`~rxstream.errors.ProtocolError` naming it if malformed."""
    try:
        msg_id = int(fields[0])
    except (IndexError, ValueError):
        raise ProtocolError("tws.request", f"bad message id in {list(fields)}") from None
    parser = _PARSERS.get(msg_id)
    try:
        if parser is not None:
            return parser(fields)
        if msg_id in _IGNORED:
            return Ignored(msg_id, _IGNORED[msg_id])
        name, at = _UNSUPPORTED.get(msg_id, (f"message {msg_id}", -1))
        return Unsupported(msg_id, name, _int(fields[at]) if at >= 0 else -1)
    except (IndexError, ValueError) as exc:
        name = ClientMsg(msg_id).name if msg_id in ClientMsg._value2member_map_ else _UNSUPPORTED[msg_id][0]
        raise ProtocolError("tws.request", f"malformed {name} {list(fields)}: {exc}") from None
