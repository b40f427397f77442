"""TWS API socket framing, sans I/O: bytes in, messages out, and back.

The wire format (both directions, after the handshake) is a 4-byte big-endian
length followed by that many bytes of text fields, each terminated by ``\\0``;
the first field is the message id. The client opens with ``API\\0`` and one
length-prefixed version string such as ``v157..176`` (no trailing ``\\0``).

Nothing here touches a socket: feed received bytes to
:meth:`Decoder.receive_data`, collect what they completed with
:meth:`Decoder.events_received`, and turn field lists into bytes with
:func:`encode_frame`. The simulator's asyncio shell is the only I/O.

>>> frame = encode_frame([1, 6, 7, 1, 1.1212, 1000000.0, 0])
>>> frame[:4], frame[4:]
(b'\\x00\\x00\\x00\\x1b', b'1\\x006\\x007\\x001\\x001.1212\\x001000000.0\\x000\\x00')
>>> d = Decoder()
>>> d.receive_data(encode_handshake(157, 176) + encode_frame([71, 2, 5, ""]))
>>> d.events_received()
[Handshake(min_version=157, max_version=176, options=''), ['71', '2', '5', '']]
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from typing import NamedTuple, TypeAlias

from ..errors import ProtocolError

__all__ = [
    "HANDSHAKE_PREFIX",
    "MAX_FRAME",
    "Decoder",
    "Event",
    "Handshake",
    "State",
    "encode_field",
    "encode_frame",
    "encode_handshake",
]

HANDSHAKE_PREFIX = b"API\0"
"""What a TWS API client sends first."""

MAX_FRAME = 16 * 1024 * 1024
"""Frames larger than this are refused (TWS itself caps messages far lower)."""

_LENGTH = struct.Struct(">I")


class Handshake(NamedTuple):
    """The client's opening: the protocol version range it speaks and connect options."""

    min_version: int
    max_version: int
    options: str = ""


Event: TypeAlias = Handshake | list[str]
"""What :meth:`Decoder.events_received` yields: the handshake, then field lists."""


class State(enum.Enum):
    """Where a :class:`Decoder` is in the stream."""

    HANDSHAKE = "handshake"
    """Expecting ``API\\0`` and the version string (server side only)."""
    OPEN = "open"
    """Expecting length-prefixed messages."""
    FAILED = "failed"
    """A framing error happened; nothing more is decoded."""


def encode_field(value: object) -> str:
    """One field as TWS writes it: ``None`` → empty, ``bool`` → ``1``/``0``, numbers as text."""
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    text = value if type(value) is str else str(value)
    if "\0" in text:
        raise ProtocolError("tws.field", f"a field may not contain NUL: {text!r}")
    return text


def encode_frame(fields: Iterable[object]) -> bytes:
    """A complete message: length prefix and ``\\0``-terminated fields."""
    body = "".join(encode_field(f) + "\0" for f in fields).encode()
    return _LENGTH.pack(len(body)) + body


def encode_handshake(min_version: int = 157, max_version: int = 176, options: str = "") -> bytes:
    """What a client sends to open the connection (``API\\0`` + prefixed ``vMIN..MAX``)."""
    text = f"v{min_version}..{max_version}" + (f" {options}" if options else "")
    body = text.encode()
    return HANDSHAKE_PREFIX + _LENGTH.pack(len(body)) + body


def _parse_handshake(body: bytes) -> Handshake:
    text = body.decode(errors="replace")
    versions, _, options = text.partition(" ")
    low, sep, high = versions.partition("..")
    try:
        if not versions.startswith("v"):
            raise ProtocolError("tws.handshake", f"bad version string {text!r}")
        min_version = int(low[1:])
        max_version = int(high) if sep else min_version
    except ValueError:
        raise ProtocolError("tws.handshake", f"bad version string {text!r}") from None
    if min_version > max_version:
        raise ProtocolError("tws.handshake", f"empty version range {text!r}")
    return Handshake(min_version, max_version, options)


class Decoder:
    """Incremental decoder of one direction of a TWS connection.

    ``Decoder()`` decodes what a client sends (handshake first);
    ``Decoder(handshake=False)`` decodes what a server sends. Raises
    :class:`~rxstream.errors.ProtocolError` (``code`` ``tws.handshake`` or
    ``tws.frame``) on bytes that cannot be TWS API traffic, then stays failed.
    """

    def __init__(self, *, handshake: bool = True, max_frame: int = MAX_FRAME) -> None:
        self.state = State.HANDSHAKE if handshake else State.OPEN
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._events: list[Event] = []

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the peer; complete messages become available as events."""
        if self.state is State.FAILED:
            raise ProtocolError("tws.frame", "decoder failed earlier")
        buffer = self._buffer
        buffer += data
        pos = 0
        try:
            if self.state is State.HANDSHAKE:
                if len(buffer) < 8:
                    if not HANDSHAKE_PREFIX.startswith(bytes(buffer[:4])):
                        raise ProtocolError("tws.handshake", f"expected API\\0, got {bytes(buffer[:4])!r}")
                    return
                if buffer[:4] != HANDSHAKE_PREFIX:
                    raise ProtocolError("tws.handshake", f"expected API\\0, got {bytes(buffer[:4])!r}")
                (length,) = _LENGTH.unpack_from(buffer, 4)
                self._check_length(length)
                if len(buffer) < 8 + length:
                    return
                self._events.append(_parse_handshake(bytes(buffer[8 : 8 + length])))
                pos = 8 + length
                self.state = State.OPEN
            end = len(buffer)
            while end - pos >= 4:
                (length,) = _LENGTH.unpack_from(buffer, pos)
                self._check_length(length)
                stop = pos + 4 + length
                if stop > end:
                    break
                text = buffer[pos + 4 : stop].decode(errors="backslashreplace")
                fields = text.split("\0")
                if fields[-1] != "":
                    raise ProtocolError("tws.frame", "message does not end with NUL")
                fields.pop()
                self._events.append(fields)
                pos = stop
        except ProtocolError:
            self.state = State.FAILED
            raise
        finally:
            if pos:
                del buffer[:pos]

    def _check_length(self, length: int) -> None:
        if length > self.max_frame:
            raise ProtocolError("tws.frame", f"frame of {length} bytes exceeds {self.max_frame}")

    def events_received(self) -> list[Event]:
        """The handshake and messages completed so far, each once."""
        events, self._events = self._events, []
        return events

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)
