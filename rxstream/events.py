"""The events that flow through rxstream: ticks, position updates, fills and signals.

Each event is an immutable named tuple (cheap to create: about a quarter of a
frozen dataclass; its fields are declared on a private ``NamedTuple`` base) with

* ``from_dict(d)``: build from an untrusted mapping, raising
  :class:`~rxstream.errors.ValidationError` that names the bad field;
* ``to_dict()``: a plain dict with a ``"type"`` tag, ready for orjson;
* ``to_json()``: the same as compact JSON bytes (orjson, times as ISO-8601 ``Z``).

All times are timezone-aware UTC :class:`~datetime.datetime` values; naive
times are refused rather than guessed.

>>> t = Tick.from_dict({"symbol": "EURUSD", "time": "2020-01-01T22:00:00.065Z",
...                     "bid": 1.1212, "ask": 1.12172})
>>> t.mid
1.12146
>>> event_from_dict(t.to_dict()) == t
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeAlias, cast

import msgspec
import orjson

from .errors import ValidationError

__all__ = [
    "EVENT_TYPES",
    "Action",
    "Bar",
    "Event",
    "Fill",
    "PositionUpdate",
    "Side",
    "Signal",
    "Tick",
    "dumps",
    "event_from_dict",
    "parse_time",
]

Action = Literal["BUY", "SELL", "HOLD"]
Side = Literal["BUY", "SELL"]

_JSON_OPTIONS = orjson.OPT_UTC_Z
_fromisoformat = datetime.fromisoformat
_convert = msgspec.convert
_new = tuple.__new__


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` with orjson the way rxstream does everywhere (UTC times as ``Z``)."""
    return orjson.dumps(obj, option=_JSON_OPTIONS)


# --- field validators: each returns the clean value or raises naming the field ---------


def _string(d: Mapping[str, Any], name: str, event: str) -> str:
    value = d.get(name)
    if type(value) is not str or not value:
        raise ValidationError(name, f"expected a non-empty string, got {value!r}", event=event)
    return value


def parse_time(text: str) -> datetime:
    """An ISO-8601 time: RFC 3339 as msgspec reads it (fractions rounded to the microsecond, ``t``/``z``
    in either case), else any form :meth:`datetime.fromisoformat` reads; raises ``ValueError``.

    The tick-file reader's quote fast path parses times with msgspec, so every
    path reads the same text as the same time.

    >>> parse_time("2020-01-01T22:00:00.1234567Z")
    datetime.datetime(2020, 1, 1, 22, 0, 0, 123457, tzinfo=datetime.timezone.utc)
    >>> parse_time("2020-01-01T22:00+01:00").isoformat()
    '2020-01-01T22:00:00+01:00'
    """
    try:
        return _convert(text, datetime)  # type: ignore[no-any-return]
    except msgspec.ValidationError:
        return _fromisoformat(text)


def _time(d: Mapping[str, Any], name: str, event: str) -> datetime:
    value = d.get(name)
    if type(value) is str:
        try:
            value = parse_time(value)
        except ValueError:
            raise ValidationError(name, f"not an ISO-8601 time: {value!r}", event=event) from None
    elif not isinstance(value, datetime):
        raise ValidationError(name, f"expected an ISO-8601 time, got {value!r}", event=event)
    offset = value.utcoffset()
    if offset is None:
        raise ValidationError(name, f"time {value.isoformat()} has no UTC offset", event=event)
    if offset or value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value


def _number(d: Mapping[str, Any], name: str, event: str, *, optional: bool = True) -> float | None:
    value = d.get(name)
    kind = type(value)
    if kind is float or kind is int:
        if math.isfinite(cast(float, value)):
            return cast(float, value)
        raise ValidationError(name, f"expected a finite number, got {value!r}", event=event)
    if value is None and optional:
        return None
    raise ValidationError(name, f"expected a number, got {value!r}", event=event)


def _required_number(d: Mapping[str, Any], name: str, event: str) -> float:
    return _number(d, name, event, optional=False)  # type: ignore[return-value]


def _choice(d: Mapping[str, Any], name: str, event: str, allowed: tuple[str, ...]) -> str:
    value = d.get(name)
    if value not in allowed:
        raise ValidationError(name, f"expected one of {', '.join(allowed)}, got {value!r}", event=event)
    return cast(str, value)


def _no_unknown(d: Mapping[str, Any], fields: frozenset[str], event: str) -> None:
    extra = d.keys() - fields
    if extra:
        name = sorted(extra)[0]
        raise ValidationError(name, "unknown field", event=event)


def _as_dict(event: Any) -> dict[str, Any]:
    out = {"type": event.kind}
    out.update(zip(event._fields, event, strict=True))
    return out


# --- the events ---------------------------------------------------------------------


class _TickFields(NamedTuple):
    symbol: str
    time: datetime
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    volume: float | None = None


class Tick(_TickFields):
    """A top-of-book quote and/or trade for one symbol at one moment."""

    __slots__ = ()
    kind = "tick"

    @property
    def mid(self) -> float | None:
        """The mid price, or ``last`` when one side of the book is missing."""
        if self.bid is not None and self.ask is not None:
            return round((self.bid + self.ask) / 2, 10)
        return self.last

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tick:
        """Build a tick from an untrusted mapping (``type`` may be present)."""
        # Fast path for the common, valid case (tick files hold millions of these);
        # anything unusual takes the slow path below, which names what is wrong.
        get = d.get
        symbol, text = get("symbol"), get("time")
        numbers = (get("bid"), get("ask"), get("last"), get("bid_size"), get("ask_size"), get("last_size"),
                   get("volume"))
        if type(symbol) is str and type(text) is str and symbol and text[-1:] == "Z" and _TICK_KEYS.issuperset(d):
            total = 0.0
            for n in numbers:
                if n is not None:
                    if type(n) is not float and type(n) is not int:
                        break
                    total += n
            else:
                if math.isfinite(total):
                    try:
                        return _new(cls, (symbol, _convert(text, datetime), *numbers))  # cls() runs Python code
                    except ValueError:
                        pass
        _no_unknown(d, _TICK_KEYS, "tick")
        return cls(
            _string(d, "symbol", "tick"),
            _time(d, "time", "tick"),
            _number(d, "bid", "tick"),
            _number(d, "ask", "tick"),
            _number(d, "last", "tick"),
            _number(d, "bid_size", "tick"),
            _number(d, "ask_size", "tick"),
            _number(d, "last_size", "tick"),
            _number(d, "volume", "tick"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with a ``type`` tag."""
        return _as_dict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return dumps(_as_dict(self))


class _PositionUpdateFields(NamedTuple):
    account: str
    symbol: str
    quantity: float
    avg_cost: float
    time: datetime


class PositionUpdate(_PositionUpdateFields):
    """The position an account holds in a symbol after a change."""

    __slots__ = ()
    kind = "position"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PositionUpdate:
        """Build a position update from an untrusted mapping."""
        _no_unknown(d, _POSITION_KEYS, "position")
        return cls(
            _string(d, "account", "position"),
            _string(d, "symbol", "position"),
            _required_number(d, "quantity", "position"),
            _required_number(d, "avg_cost", "position"),
            _time(d, "time", "position"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with a ``type`` tag."""
        return _as_dict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return dumps(_as_dict(self))


class _FillFields(NamedTuple):
    exec_id: str
    order_id: int
    account: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float | None
    time: datetime


class Fill(_FillFields):
    """One execution of an order; ``exec_id`` is unique per execution."""

    __slots__ = ()
    kind = "fill"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fill:
        """Build a fill from an untrusted mapping."""
        _no_unknown(d, _FILL_KEYS, "fill")
        order_id = d.get("order_id")
        if type(order_id) is not int:
            raise ValidationError("order_id", f"expected an integer, got {order_id!r}", event="fill")
        quantity = _required_number(d, "quantity", "fill")
        if quantity <= 0:
            raise ValidationError("quantity", f"must be positive, got {quantity!r}", event="fill")
        return cls(
            _string(d, "exec_id", "fill"),
            order_id,
            _string(d, "account", "fill"),
            _string(d, "symbol", "fill"),
            _choice(d, "side", "fill", ("BUY", "SELL")),  # type: ignore[arg-type]
            quantity,
            _required_number(d, "price", "fill"),
            _number(d, "commission", "fill"),
            _time(d, "time", "fill"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with a ``type`` tag."""
        return _as_dict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return dumps(_as_dict(self))


class _SignalFields(NamedTuple):
    strategy: str
    symbol: str
    action: Action
    confidence: float
    time: datetime
    reason: str = ""


class Signal(_SignalFields):
    """A strategy's view on a symbol: BUY, SELL or HOLD with a confidence in [0, 1]."""

    __slots__ = ()
    kind = "signal"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signal:
        """Build a signal from an untrusted mapping."""
        _no_unknown(d, _SIGNAL_KEYS, "signal")
        confidence = _required_number(d, "confidence", "signal")
        if not 0.0 <= confidence <= 1.0:
            raise ValidationError("confidence", f"must be within 0..1, got {confidence!r}", event="signal")
        reason = d.get("reason", "")
        if type(reason) is not str:
            raise ValidationError("reason", f"expected a string, got {reason!r}", event="signal")
        return cls(
            _string(d, "strategy", "signal"),
            _string(d, "symbol", "signal"),
            _choice(d, "action", "signal", ("BUY", "SELL", "HOLD")),  # type: ignore[arg-type]
            confidence,
            _time(d, "time", "signal"),
            reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with a ``type`` tag."""
        return _as_dict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return dumps(_as_dict(self))


Event: TypeAlias = Tick | PositionUpdate | Fill | Signal

_TICK_KEYS = frozenset(Tick._fields) | {"type"}
_POSITION_KEYS = frozenset(PositionUpdate._fields) | {"type"}
_FILL_KEYS = frozenset(Fill._fields) | {"type"}
_SIGNAL_KEYS = frozenset(Signal._fields) | {"type"}

EVENT_TYPES: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "tick": Tick.from_dict,
    "position": PositionUpdate.from_dict,
    "fill": Fill.from_dict,
    "signal": Signal.from_dict,
}
"""Builders by the ``type`` tag that ``to_dict`` writes."""


def event_from_dict(d: Mapping[str, Any]) -> Event:
    """Build whichever event ``d["type"]`` names."""
    if not isinstance(d, Mapping):
        raise ValidationError("type", f"expected an object, got {type(d).__name__}")
    build = EVENT_TYPES.get(d.get("type"))  # type: ignore[arg-type]
    if build is None:
        raise ValidationError("type", f"expected one of {', '.join(EVENT_TYPES)}, got {d.get('type')!r}")
    return build(d)


# --- bars (derived records, not replayable events: they have no single ``time``) ------


class _BarFields(NamedTuple):
    symbol: str
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    ticks: int


class Bar(_BarFields):
    """An OHLC bar of one symbol over ``[start, end)``; ``ticks`` prices went into it.

    Serialises as ``{"type": "bar", "symbol", "start", "end", "open", "high",
    "low", "close", "ticks"}`` with the times as ISO-8601 ``Z`` strings.

    >>> b = Bar("EURUSD", datetime(2020, 1, 1, 22, 0, tzinfo=UTC), datetime(2020, 1, 1, 22, 1, tzinfo=UTC),
    ...         1.1214, 1.1216, 1.1213, 1.1215, 12)
    >>> b.to_json()[:58]
    b'{"type":"bar","symbol":"EURUSD","start":"2020-01-01T22:00:'
    >>> Bar.from_dict(b.to_dict()) == b
    True
    """

    __slots__ = ()
    kind = "bar"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Bar:
        """Build a bar from an untrusted mapping (``type`` may be present)."""
        _no_unknown(d, _BAR_KEYS, "bar")
        ticks = d.get("ticks")
        if type(ticks) is not int or ticks < 1:
            raise ValidationError("ticks", f"expected a positive integer, got {ticks!r}", event="bar")
        start, end = _time(d, "start", "bar"), _time(d, "end", "bar")
        if end <= start:
            raise ValidationError("end", f"must be after start {start.isoformat()}", event="bar")
        prices = [_required_number(d, name, "bar") for name in ("open", "high", "low", "close")]
        open_, high, low, close = prices
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise ValidationError("high", f"expected low <= open, close <= high, got {prices}", event="bar")
        return cls(_string(d, "symbol", "bar"), start, end, open_, high, low, close, ticks)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with a ``type`` tag (times as datetimes; ``to_json`` writes them ISO-8601)."""
        return _as_dict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return dumps(_as_dict(self))


_BAR_KEYS = frozenset(Bar._fields) | {"type"}
