"""The broadcaster's :class:`~rxstream.gateway.channel.Sink` over an aiohttp WebSocket."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from aiohttp import web

__all__ = ["WebSocketSink"]

_HEADER1 = struct.Struct("!BB").pack
_HEADER2 = struct.Struct("!BBH").pack
_HEADER8 = struct.Struct("!BBQ").pack
_TEXT = 0x81  # FIN + text opcode
_PING = b"\x89\x00"  # FIN + ping opcode, no payload


class WebSocketSink:
    """The broadcaster's :class:`~rxstream.gateway.channel.Sink` over an aiohttp WebSocket.

    Frames are written straight to the transport (unmasked, uncompressed: the server side of
    RFC 6455 with ``compress=False``), so a write costs no task and no await; ``drain`` waits on
    aiohttp's own flow control. Control frames (ping, close) still go through aiohttp.
    """

    __slots__ = ("_protocol", "_transport", "_writer", "_ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, writer: Any) -> None:
        self._ws = ws
        self._transport = request.transport
        self._protocol = request.protocol
        self._writer = writer

    def write(self, frame: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing() or self._ws.closed:
            raise ConnectionResetError("the connection is closing")
        n = len(frame)
        header = _HEADER1(_TEXT, n) if n < 126 else _HEADER2(_TEXT, 126, n) if n < 65536 else _HEADER8(_TEXT, 127, n)
        transport.write(header + frame)  # one send: copying the frame costs less than a second system call
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
