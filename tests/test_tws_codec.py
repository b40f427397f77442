"""The TWS codec and message builders, without sockets.

Replies are checked the strongest way available: the installed broker library's own
``Decoder`` decodes each one into the wrapper call the real client would make.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rxstream.errors import ProtocolError
from rxstream.ibkr.symbols import parse_symbol
from rxstream.testing import messages as m
from rxstream.testing import requests as rq
from rxstream.testing.broker import ExecRecord
from rxstream.testing.codec import Decoder, Handshake, State, encode_field, encode_frame, encode_handshake

EURUSD = parse_symbol("EURUSD")
AAPL = parse_symbol("AAPL")


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "1"), (False, "0"), (0, "0"), (176, "176"), (1.1212, "1.1212"), ("EUR", "EUR"),
     (m.ServerMsg.TICK_PRICE, "1"), ("", "")],
)
def test_encode_field(value: object, text: str) -> None:
    assert encode_field(value) == text


def test_encode_field_refuses_nul() -> None:
    with pytest.raises(ProtocolError, match="NUL"):
        encode_field("a\0b")


@pytest.mark.parametrize(
    ("fields", "frame"),
    [
        ([], b"\x00\x00\x00\x00"),
        ([49, 1], b"\x00\x00\x00\x0549\x001\x00"),
        (["176", "20240102 14:30:00 UTC"], b"\x00\x00\x00\x1a176\x0020240102 14:30:00 UTC\x00"),
        ([4, 2, -1, 2104, "ok", ""], b"\x00\x00\x00\x104\x002\x00-1\x002104\x00ok\x00\x00"),
    ],
)
def test_encode_frame(fields: list[object], frame: bytes) -> None:
    assert encode_frame(fields) == frame


@pytest.mark.parametrize(
    ("args", "wire"),
    [
        ((157, 176, ""), b"API\x00\x00\x00\x00\x09v157..176"),
        ((157, 178, "+PACEAPI"), b"API\x00\x00\x00\x00\x12v157..178 +PACEAPI"),
    ],
)
def test_encode_handshake(args: tuple[int, int, str], wire: bytes) -> None:
    assert encode_handshake(*args) == wire


def _client_stream() -> bytes:
    return encode_handshake(157, 176) + encode_frame([71, 2, 5, ""]) + encode_frame([61, 1])


EXPECTED = [Handshake(157, 176, ""), ["71", "2", "5", ""], ["61", "1"]]


def test_decoder_reads_handshake_then_messages_in_one_chunk() -> None:
    decoder = Decoder()
    decoder.receive_data(_client_stream())
    assert decoder.events_received() == EXPECTED
    assert decoder.events_received() == []
    assert decoder.state is State.OPEN and decoder.buffered == 0


def test_decoder_reassembles_any_split() -> None:
    wire = _client_stream()
    for cut in range(1, len(wire)):
        decoder = Decoder()
        decoder.receive_data(wire[:cut])
        first = decoder.events_received()
        decoder.receive_data(wire[cut:])
        assert first + decoder.events_received() == EXPECTED, cut


def test_decoder_byte_by_byte() -> None:
    decoder = Decoder()
    events: list[Any] = []
    for byte in _client_stream():
        decoder.receive_data(bytes([byte]))
        events += decoder.events_received()
    assert events == EXPECTED


def test_client_side_decoder_has_no_handshake() -> None:
    decoder = Decoder(handshake=False)
    decoder.receive_data(encode_frame([176, "20240102 14:30:00 UTC"]) + encode_frame(m.next_valid_id(1)))
    assert decoder.events_received() == [["176", "20240102 14:30:00 UTC"], ["9", "1", "1"]]


@pytest.mark.parametrize(
    ("wire", "code", "match"),
    [
        (b"GET / HTTP/1.1\r\n", "tws.handshake", "expected API"),
        (b"APX\0", "tws.handshake", "expected API"),
        (b"API\0\x00\x00\x00\x04x157", "tws.handshake", "bad version"),
        (b"API\0\x00\x00\x00\x09v176..157", "tws.handshake", "empty version range"),
        (encode_handshake() + b"\x7f\x00\x00\x00", "tws.frame", "exceeds"),
        (encode_handshake() + b"\x00\x00\x00\x02ab", "tws.frame", "NUL"),
    ],
)
def test_decoder_refuses_what_is_not_tws(wire: bytes, code: str, match: str) -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match=match) as info:
        decoder.receive_data(wire)
    assert info.value.code == code
    assert decoder.state is State.FAILED
    with pytest.raises(ProtocolError):
        decoder.receive_data(b"")


# --- requests, as ib_insync's client.py sends them ----------------------------------------

FOREX = ["0", "EUR", "CASH", "", "0.0", "", "", "IDEALPRO", "", "USD", "", ""]
FOREX_FIELDS = rq.ContractFields(0, "EUR", "CASH", "", "0.0", "", "", "IDEALPRO", "", "USD", "", "")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["71", "2", "3", ""], rq.StartApi(3, "")),
        (["61", "1"], rq.ReqPositions(True)),
        (["64", "1"], rq.ReqPositions(False)),
        (["5", "1"], rq.ReqOpenOrders("open")),
        (["16", "1"], rq.ReqOpenOrders("all")),
        (["15", "1", "1"], rq.ReqOpenOrders("auto")),
        (["99", "0"], rq.ReqCompletedOrders(False)),
        (["6", "2", "1", "DU0000001"], rq.ReqAccountUpdates(True, "DU0000001")),
        (["76", "1", "4", "DU0000001", "", "0"], rq.ReqAccountUpdatesMulti(4, "DU0000001")),
        (["77", "1", "4"], rq.ReqAccountUpdatesMulti(4, "", False)),
        (["62", "1", "9", "All", "NetLiquidation"], rq.ReqAccountSummary(9, True, "All", "NetLiquidation")),
        (["7", "3", "5", "0", "", "", "", "", "", ""], rq.ReqExecutions(5)),
        (["7", "3", "5", "2", "DU1", "", "EUR", "CASH", "", "BUY"],
         rq.ReqExecutions(5, 2, "DU1", "", "EUR", "CASH", "", "BUY")),
        (["49", "1"], rq.ReqCurrentTime()),
        (["8", "1", "1"], rq.ReqIds(1)),
        (["2", "2", "7"], rq.CancelMktData(7)),
        (["4", "1", "12", ""], rq.CancelOrder(12)),
        (["1", "11", "7", *FOREX, "0", "", "0", "0", ""], rq.ReqMktData(7, FOREX_FIELDS, "", False)),
        (["9", "8", "3", *FOREX, "0", "", "", ""], rq.ReqContractData(3, FOREX_FIELDS)),
        (["3", "12", *FOREX, "", "", "BUY", "20000.0", "MKT", "", "", "", "", "", "", "0", "", "1", "0"],
         rq.PlaceOrder(12, FOREX_FIELDS, "BUY", 20000.0, "MKT", None, None, "", "", "")),
        (["59", "1", "3"], rq.Ignored(59, "REQ_MARKET_DATA_TYPE")),
        (["52", "2", "7", *FOREX, "ReportSnapshot", "", ""], rq.Unsupported(52, "REQ_FUNDAMENTAL_DATA", 7)),
        (["200", "1"], rq.Unsupported(200, "message 200", -1)),
        (["58", "1"], rq.ReqGlobalCancel()),
        (["17", "1"], rq.ReqManagedAccts()),
        (["85"], rq.EmptyListRequest(85)),
        (["20", "4", *FOREX, "0", "", "1 hour", "30 D", "1", "MIDPOINT", "1", "0", ""],
         rq.ReqHistoricalData(4, FOREX_FIELDS, "", "1 hour", "30 D", True, "MIDPOINT", 1, False)),
        (["25", "1", "4"], rq.CancelHistoricalData(4)),
    ],
)
def test_parse_request(fields: list[str], expected: rq.Request) -> None:
    assert rq.parse_request(fields) == expected


@pytest.mark.parametrize(
    ("fields", "match"),
    [([], "bad message id"), (["x"], "bad message id"), (["1", "11", "7", "0", "EUR"], "contract needs 12"),
     (["71", "2", "abc"], "malformed START_API")],
)
def test_parse_request_names_what_is_malformed(fields: list[str], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        rq.parse_request(fields)


# --- replies, decoded by the real ib_insync (or ib_async) decoder ---------------------------------------


class _Recorder:
    """Stands in for ib_insync's Wrapper: records each call the decoder makes."""

    class ib:
        TimezoneTWS = ""

    defaultTimezone = UTC  # ib_async converts execution times to it

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def _decode(fields: list[Any]) -> tuple[str, tuple[Any, ...]]:
    from rxstream.ibkr.api import Decoder as IBDecoder

    recorder = _Recorder()
    decoder = IBDecoder(recorder, m.SERVER_VERSION)  # type: ignore[arg-type]
    wire = Decoder(handshake=False)
    wire.receive_data(encode_frame(fields))
    (message,) = wire.events_received()
    decoder.handlers[int(message[0])](message)  # not interpret(): let errors raise here
    (call,) = recorder.calls
    return call


EXEC = ExecRecord(
    "00000001.00000001.01.01", 12, 3, 1_000_001, "DU0000001", EURUSD, "BOT", 20000.0, 1.1214,
    datetime(2020, 1, 1, 22, 0, 5, tzinfo=UTC), 20000.0, 1.1214, 2.0,
)
ORDER = rq.PlaceOrder(12, FOREX_FIELDS, "BUY", 20000.0, "MKT", None, None, "", "", "ref-1")


def test_tick_price_and_size() -> None:
    assert _decode(m.tick_price(7, m.TickType.BID, 1.1212, 1e6)) == ("priceSizeTick", (7, 1, 1.1212, 1e6))
    assert _decode(m.tick_size(7, m.TickType.VOLUME, 5.0)) == ("tickSize", (7, 8, 5.0))


def test_handshake_replies() -> None:
    assert _decode(m.next_valid_id(42)) == ("nextValidId", (42,))
    assert _decode(m.managed_accounts(["DU1", "DU2"])) == ("managedAccounts", ("DU1,DU2",))
    assert _decode(m.current_time(1_700_000_000)) == ("currentTime", (1_700_000_000,))


@pytest.mark.parametrize(
    ("fields", "call"),
    [
        (m.position_end(), ("positionEnd", ())),
        (m.open_order_end(), ("openOrderEnd", ())),
        (m.completed_orders_end(), ("completedOrdersEnd", ())),
        (m.account_download_end("DU1"), ("accountDownloadEnd", ("DU1",))),
        (m.account_update_multi_end(4), ("accountUpdateMultiEnd", (4,))),
        (m.account_summary_end(9), ("accountSummaryEnd", (9,))),
        (m.execution_data_end(5), ("execDetailsEnd", (5,))),
        (m.contract_data_end(3), ("contractDetailsEnd", (3,))),
        (
            m.account_value("NetLiquidation", "1.0", "USD", "DU1"),
            ("updateAccountValue", ("NetLiquidation", "1.0", "USD", "DU1")),
        ),
        (m.error(-1, 2104, "ok"), ("error", (-1, 2104, "ok", ""))),
        (m.order_status(12, "Filled", 2.0, 0.0, 1.5, 77, 1.5, 3),
         ("orderStatus", (12, "Filled", 2.0, 0.0, 1.5, 77, 0, 1.5, 3, "", 0.0))),
    ],
)
def test_simple_replies(fields: list[Any], call: tuple[str, tuple[Any, ...]]) -> None:
    assert _decode(fields) == call


def test_position() -> None:
    name, (account, contract, qty, cost) = _decode(m.position("DU1", EURUSD, 100000.0, 1.1205))
    assert (name, account, qty, cost) == ("position", "DU1", 100000.0, 1.1205)
    assert (contract.conId, contract.symbol, contract.secType, contract.currency, contract.localSymbol) == (
        12087792, "EUR", "CASH", "USD", "EUR.USD",
    )


def test_execution_data() -> None:
    name, (req_id, contract, execution) = _decode(m.execution_data(-1, EXEC))
    assert (name, req_id, contract.symbol) == ("execDetails", -1, "EUR")
    assert (execution.execId, execution.side, execution.shares, execution.price) == (
        EXEC.exec_id, "BOT", 20000.0, 1.1214,
    )
    assert (execution.orderId, execution.clientId, execution.permId) == (12, 3, 1_000_001)
    assert execution.time == EXEC.time


def test_commission_report() -> None:
    name, (report,) = _decode(m.commission_report(EXEC.exec_id, 2.0))
    assert (name, report.execId, report.commission, report.currency) == ("commissionReport", EXEC.exec_id, 2.0, "USD")


def test_open_order_echoes_the_order() -> None:
    fields = m.open_order(ORDER, EURUSD, client_id=3, perm_id=1_000_001, status="Filled")
    assert len(fields) == 128
    name, (order_id, contract, order, state) = _decode(fields)
    assert (name, order_id, contract.localSymbol) == ("openOrder", 12, "EUR.USD")
    assert (order.action, order.totalQuantity, order.orderType, order.orderRef) == ("BUY", 20000.0, "MKT", "ref-1")
    assert (order.clientId, order.permId, state.status, order.whatIf) == (3, 1_000_001, "Filled", False)


@pytest.mark.parametrize("spec", [EURUSD, AAPL])
def test_contract_data(spec: Any) -> None:
    fields = m.contract_data(3, spec)
    assert len(fields) == 40
    name, (req_id, details) = _decode(fields)
    assert (name, req_id) == ("contractDetails", 3)
    c = details.contract
    assert (c.conId, c.symbol, c.secType, c.exchange, c.currency, c.localSymbol) == (
        spec.con_id, spec.ib_symbol, spec.sec_type, spec.exchange, spec.currency, spec.local_symbol,
    )


def test_ib_time_is_explicit_utc() -> None:
    assert m.ib_time(datetime(2020, 1, 1, 22, 0, 5, tzinfo=UTC)) == "20200101 22:00:05 UTC"


@pytest.mark.parametrize(
    "quote",
    [(1.1212, 1.1214, None, 1e6, 2e6, None, None), (None, None, 190.5, None, None, 100.0, 12345.0),
     (1.0, None, None, None, None, None, None), (None, None, None, None, None, None, None),
     (0.1 + 0.2, 3, 5, 1, 2, 3, 4)],
)
def test_tick_frames_equal_the_framed_messages(quote: tuple[Any, ...]) -> None:
    bid, ask, last, bid_size, ask_size, last_size, volume = quote
    expected = []
    for tick_type, price, size, unknown in ((1, bid, bid_size, 1), (2, ask, ask_size, 1), (4, last, last_size, 0)):
        if price is not None:  # a quote side never has size 0 (that means "no quote"); a trade may
            expected.append(m.tick_price(7, tick_type, price, float(unknown if size is None else size)))
    if volume is not None:
        expected.append(m.tick_size(7, m.TickType.VOLUME, float(volume)))
    assert m.tick_frames(7, *quote) == b"".join(encode_frame(f) for f in expected)
