"""Where rxstream keeps things in Redis, and how one message is written as a stream entry.

Every key starts with a prefix (``rxstream`` unless told otherwise), so one
Redis database can hold several independent buses::

    {prefix}:epoch             STRING  the numbering's epoch, set once by the first ingest
    {prefix}:topics            HASH    topic → {"policy", "history"} (what gateways offer)
    {prefix}:seq               HASH    topic → last seq written (survives trimming)
    {prefix}:stream:{topic}    STREAM  one entry per message, trimmed by time and count
    {prefix}:latest:{topic}    HASH    state topics: key → the latest entry for that key
    {prefix}:exec_ids          ZSET    exec ids of the fills published, scored by time (ms)
    {prefix}:lease             STRING  the ingest holding the write lease (SET NX PX)

An entry's fields: ``s`` seq, ``t`` publish time (µs since the epoch), ``p`` the
finished ``data`` frame, ``k`` the key (state topics), ``y`` the symbol (when
the value has one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..bus import Message
from ..errors import ConfigError

__all__ = ["BusAddress", "Layout", "entry_fields", "key_text", "message_from_entry", "parse_bus_url"]


@dataclass(frozen=True, slots=True)
class BusAddress:
    """A parsed ``redis://HOST:PORT/DB`` bus setting."""

    url: str
    prefix: str = "rxstream"

    def __str__(self) -> str:
        return self.url


def parse_bus_url(text: str, *, prefix: str = "rxstream") -> BusAddress:
    """``redis://HOST:PORT/DB`` (or ``rediss://``, ``unix://``) checked, else :class:`ConfigError` on ``bus``."""
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("bus", f"expected redis://HOST:PORT/DB, got {text!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError("bus", f"no host in {text!r}; expected redis://HOST:PORT/DB")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError("bus", f"bad port in {text!r}") from None
    db = parts.path.lstrip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ConfigError("bus", f"the database must be a number, got {db!r} in {text!r}")
    return BusAddress(text, prefix)


@dataclass(frozen=True, slots=True)
class Layout:
    """The key names of one bus."""

    prefix: str = "rxstream"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @property
    def topics(self) -> str:
        return f"{self.prefix}:topics"

    @property
    def seq(self) -> str:
        return f"{self.prefix}:seq"

    @property
    def exec_ids(self) -> str:
        return f"{self.prefix}:exec_ids"

    @property
    def lease(self) -> str:
        return f"{self.prefix}:lease"

    def stream(self, topic: str) -> str:
        return f"{self.prefix}:stream:{topic}"

    def latest(self, topic: str) -> str:
        return f"{self.prefix}:latest:{topic}"

    def topic_of(self, stream: str) -> str:
        """The topic of a stream key."""
        return stream[len(self.prefix) + len(":stream:"):]


def _micros(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1_000_000)


def key_text(key: Any) -> bytes:
    """A message key as stored: strings as they are, anything else as JSON."""
    return key.encode() if isinstance(key, str) else orjson.dumps(key)


def entry_fields(message: Message) -> dict[bytes, bytes]:
    """The stream entry for ``message``."""
    fields = {b"s": b"%d" % message.seq, b"t": b"%d" % _micros(message.time), b"p": message.payload}
    if message.key is not None:
        fields[b"k"] = key_text(message.key)
    if message.symbol is not None:
        fields[b"y"] = message.symbol.encode()
    return fields


def message_from_entry(topic: str, epoch: str, fields: dict[bytes, bytes]) -> Message:
    """The :class:`~rxstream.bus.Message` a gateway serves for a stream entry (no ``value``: it stays encoded)."""
    key = fields.get(b"k")
    symbol = fields.get(b"y")
    return Message(
        topic, int(fields[b"s"]), epoch, datetime.fromtimestamp(int(fields[b"t"]) / 1_000_000, UTC),
        key.decode() if key is not None else None, fields[b"p"], symbol.decode() if symbol is not None else None,
    )
