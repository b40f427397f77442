from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from rxstream.errors import ValidationError
from rxstream.events import Fill, PositionUpdate, Signal, Tick, event_from_dict

T = "2020-01-01T22:00:00.065Z"


def test_tick_from_dict_round_trips_through_json() -> None:
    tick = Tick.from_dict({"type": "tick", "symbol": "EURUSD", "time": T, "bid": 1.1212, "ask": 1.12172})
    assert tick.time == datetime(2020, 1, 1, 22, 0, 0, 65000, tzinfo=UTC)
    assert tick.last is None
    assert event_from_dict(orjson.loads(tick.to_json())) == tick


def test_times_with_an_offset_become_utc() -> None:
    tick = Tick.from_dict({"symbol": "X", "time": "2020-01-01T17:00:00-05:00", "bid": 1})
    assert tick.time == datetime(2020, 1, 1, 22, tzinfo=UTC)
    assert tick.time.tzinfo is UTC


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"time": T}, "symbol", "non-empty string"),
        ({"symbol": "X", "time": "2020-01-01T22:00:00"}, "time", "no UTC offset"),
        ({"symbol": "X", "time": "yesterday"}, "time", "not an ISO-8601 time"),
        ({"symbol": "X", "time": T, "bid": "1.1"}, "bid", "expected a number"),
        ({"symbol": "X", "time": T, "bid": True}, "bid", "expected a number"),
        ({"symbol": "X", "time": T, "ask": float("nan")}, "ask", "finite"),
        ({"symbol": "X", "time": T, "bidd": 1.0}, "bidd", "unknown field"),
    ],
)
def test_tick_validation_names_the_field(record: dict, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Tick.from_dict(record)
    assert caught.value.field == field
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"tick.{field}:")


def test_naive_datetime_objects_are_refused() -> None:
    with pytest.raises(ValidationError, match="no UTC offset"):
        Tick.from_dict({"symbol": "X", "time": datetime(2020, 1, 1)})


def test_signal_checks_action_and_confidence() -> None:
    base = {"strategy": "s", "symbol": "X", "action": "BUY", "confidence": 0.7, "time": T}
    assert Signal.from_dict(base).reason == ""
    with pytest.raises(ValidationError, match=r"signal\.action: expected one of BUY, SELL, HOLD"):
        Signal.from_dict({**base, "action": "buy"})
    with pytest.raises(ValidationError, match=r"signal\.confidence: must be within 0..1"):
        Signal.from_dict({**base, "confidence": 1.5})


def test_fill_checks_side_quantity_and_order_id() -> None:
    base = {
        "exec_id": "e1", "order_id": 7, "account": "DU1", "symbol": "EURUSD", "side": "BUY",
        "quantity": 20000, "price": 1.1, "commission": 2.0, "time": T,
    }
    fill = Fill.from_dict(base)
    assert fill == event_from_dict(fill.to_dict())
    with pytest.raises(ValidationError, match=r"fill\.quantity: must be positive"):
        Fill.from_dict({**base, "quantity": 0})
    with pytest.raises(ValidationError, match=r"fill\.side"):
        Fill.from_dict({**base, "side": "BOT"})
    with pytest.raises(ValidationError, match=r"fill\.order_id: expected an integer"):
        Fill.from_dict({**base, "order_id": "7"})


def test_position_round_trip_and_unknown_type() -> None:
    position = PositionUpdate("DU1", "AAPL", 100, 187.5, datetime(2024, 1, 2, tzinfo=timezone(timedelta(0))))
    assert event_from_dict(orjson.loads(position.to_json())) == position
    with pytest.raises(ValidationError, match="type: expected one of tick, position, fill, signal"):
        event_from_dict({"type": "quote"})


def test_events_are_immutable() -> None:
    tick = Tick("X", datetime(2020, 1, 1, tzinfo=UTC), 1.0, 2.0)
    with pytest.raises(AttributeError):
        tick.bid = 3.0  # type: ignore[misc]
    assert tick._replace(bid=3.0).bid == 3.0
    assert tick.mid == 1.5
