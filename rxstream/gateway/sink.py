"""The broadcaster's :class:`~rxstream.gateway.channel.Sink` over an aiohttp WebSocket, and the shared framing."""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["Framer", "WebSocketSink", "header_size"]

_HEADER1 = struct.Struct("!BB").pack
_HEADER2 = struct.Struct("!BBH").pack
_HEADER8 = struct.Struct("!BBQ").pack
_TEXT = 0x81  # FIN + text opcode
_PING = b"\x89\x00"  # FIN + ping opcode, no payload


def header_size(n: int) -> int:
    """Bytes of the header of an unmasked frame of ``n`` payload bytes (RFC 6455, 5.2)."""
    return 2 if n < 126 else 4 if n < 65536 else 10


class Framer:
    """Puts the WebSocket header before a frame's bytes, once for every client sent the same frame.

    The broadcaster hands the very same frame object to every client at the same place in a
    topic, one after the other: the framed bytes of the last frame are kept (by identity), so
    500 clients cost one header and one copy, not 500. One per app, shared by its sinks.
    """

    __slots__ = ("_frame", "_framed")

    def __init__(self) -> None:
        self._frame: bytes | None = None
        self._framed = b""

    def __call__(self, frame: bytes) -> bytes:
        if frame is self._frame:
            return self._framed
        n = len(frame)
        header = _HEADER1(_TEXT, n) if n < 126 else _HEADER2(_TEXT, 126, n) if n < 65536 else _HEADER8(_TEXT, 127, n)
        framed = header + frame  # one send: copying the frame costs less than a second system call
        if n > 1024:  # worth keeping: a data frame others may be sent too (a small one is cheap to redo)
            self._frame, self._framed = frame, framed
        return framed


class WebSocketSink:
    """The broadcaster's :class:`~rxstream.gateway.channel.Sink` over an aiohttp WebSocket.

    Frames are written straight to the transport (unmasked, uncompressed: the server side of
    RFC 6455 with ``compress=False``), so a write costs no task and no await; ``drain`` waits on
    aiohttp's own flow control. Control frames (ping, close) still go through aiohttp.
    """

    __slots__ = ("_framer", "_protocol", "_transport", "_writer", "_ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, writer: Any,
                 framer: Framer | None = None) -> None:
        self._ws = ws
        self._transport = request.transport
        self._protocol = request.protocol
        self._writer = writer
        self._framer = framer or Framer()

    def write(self, frame: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing() or self._ws.closed:
            raise ConnectionResetError("the connection is closing")
        transport.write(self._framer(frame))
        return not self._protocol.writing_paused

    def ping(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._ws.closed:
            raise ConnectionResetError("the connection is closing")
        transport.write(_PING)

    def unsent(self) -> int:
        transport = self._transport
        return transport.get_write_buffer_size() if isinstance(transport, asyncio.WriteTransport) else 0

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code=code, message=reason.encode()[:123])

    def abort(self) -> None:
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()
