"""Helpers shared by the gateway tests: the JSON Schemas of docs/schema and a frame reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema

from rxstream.bus import InMemoryBus, TopicSpec
from rxstream.events import Fill, PositionUpdate, Signal, Tick
from rxstream.gateway.app import StaticBackend, create_app
from rxstream.gateway.sink import header_size
from rxstream.health import HealthMonitor
from rxstream.settings import Settings

__all__ = [
    "CLIENT_SCHEMA",
    "SERVER_SCHEMA",
    "T0",
    "ListSink",
    "Reader",
    "check_client",
    "check_server",
    "fill",
    "make_bus",
    "position",
    "signal",
    "start_server",
    "tick",
]

T0 = datetime(2024, 12, 19, 12, tzinfo=UTC)


def tick(symbol: str = "EURUSD", bid: float = 1.1, n: int = 0) -> Tick:
    """A tick ``n`` seconds after T0."""
    return Tick(symbol, T0 + timedelta(seconds=n), bid, round(bid + 0.0002, 6))


def signal(n: int, symbol: str = "EURUSD", reason: str = "") -> Signal:
    """The ``n``-th signal of a test strategy."""
    return Signal("test", symbol, "BUY" if n % 2 else "SELL", 0.5, T0 + timedelta(seconds=n), reason or f"#{n}")


def fill(n: int, symbol: str = "EURUSD") -> Fill:
    """The ``n``-th fill."""
    return Fill(f"exec-{n}", n, "DU1", symbol, "BUY", 1000.0, 1.1, 0.5, T0 + timedelta(seconds=n))


def position(symbol: str = "EURUSD", quantity: float = 1000.0) -> PositionUpdate:
    """A position in account DU1."""
    return PositionUpdate("DU1", symbol, quantity, 1.1, T0)


def make_bus(history: int = 50, epoch: str = "epoch-1") -> InMemoryBus:
    """A bus with the four standard topics declared as the engine declares them."""
    bus = InMemoryBus(epoch=epoch)
    bus.declare(TopicSpec("price_updates", "state", key=lambda t: t.symbol, history=history))
    bus.declare(TopicSpec("portfolio_updates", "state", key=lambda p: (p.account, p.symbol), history=history))
    bus.declare(TopicSpec("signals", "lossless", history=history))
    bus.declare(TopicSpec("trade_executions", "lossless", history=history))
    return bus


async def start_server(aiohttp_server: Any, bus: InMemoryBus, *, health: HealthMonitor | None = None,
                       scheduler: Any = None, **settings: Any) -> Any:
    """A real aiohttp server on a real port running the gateway over ``bus``."""
    app = create_app(Settings(**settings), backend=StaticBackend(bus, health, scheduler), scheduler=scheduler)
    return await aiohttp_server(app)


_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"
SERVER_SCHEMA = json.loads((_SCHEMA_DIR / "server.schema.json").read_text())
CLIENT_SCHEMA = json.loads((_SCHEMA_DIR / "client.schema.json").read_text())
_server = jsonschema.Draft202012Validator(SERVER_SCHEMA, format_checker=jsonschema.FormatChecker())
_client = jsonschema.Draft202012Validator(CLIENT_SCHEMA)
jsonschema.Draft202012Validator.check_schema(SERVER_SCHEMA)
jsonschema.Draft202012Validator.check_schema(CLIENT_SCHEMA)


def check_server(frame: Any) -> Any:
    """Validate one server frame (already parsed) against docs/schema/server.schema.json."""
    _server.validate(frame)
    return frame


def check_client(frame: Any) -> Any:
    """Validate one client frame against docs/schema/client.schema.json."""
    _client.validate(frame)
    return frame


class Reader:
    """Reads a real WebSocket, validates every frame against the schema and splits arrays into messages."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.buffer: list[dict[str, Any]] = []
        self.frames = 0
        self.arrays = 0
        self.close_code: int | None = None

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message; raises TimeoutError or ConnectionError (with the close code) if none."""
        while not self.buffer:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                self.close_code = self.ws.close_code
                raise ConnectionError(f"closed with {self.ws.close_code}")
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            frame = check_server(json.loads(msg.data))
            self.frames += 1
            if isinstance(frame, list):
                self.arrays += 1
                self.buffer.extend(frame)
            else:
                self.buffer.append(frame)
        return self.buffer.pop(0)

    async def until(self, type_: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """Skip messages until one of ``type_`` whose fields equal ``match``."""
        while True:
            msg = await self.next(timeout)
            if msg["type"] == type_ and all(msg.get(k) == v for k, v in match.items()):
                return msg

    async def take(self, n: int, type_: str = "data", timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next ``n`` messages of ``type_`` (others skipped)."""
        out = []
        while len(out) < n:
            msg = await self.next(timeout)
            if msg["type"] == type_:
                out.append(msg)
        return out

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; the close code."""
        try:
            while True:
                await self.next(timeout)
        except ConnectionError:
            return self.close_code

    async def drain(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Everything the server queued before now: sends a ping and collects messages up to its pong."""
        self._barrier = getattr(self, "_barrier", 0) + 1
        await self.ws.send_str(json.dumps({"type": "ping", "id": f"barrier-{self._barrier}"}))
        out = []
        while True:
            msg = await self.next(timeout)
            if msg["type"] == "pong" and msg.get("id") == f"barrier-{self._barrier}":
                return out
            out.append(msg)


class ListSink:
    """A :class:`~rxstream.gateway.channel.Sink` test double: frames kept in a list, a peer that reads on demand.

    ``room`` is how many bytes the "transport" takes before it reports itself full; the bytes
    stay unread (``unsent``) until :meth:`read` empties it, which also ends a pending ``drain``.
    ``stall()`` makes it full from the next write on; ``closed`` holds ``(code, reason)``.
    """

    def __init__(self, room: int = 1 << 30) -> None:
        import asyncio

        self.frames: list[bytes] = []
        self.room = room
        self.buffered = 0
        self.closed: tuple[int, str] | None = None
        self.aborted = False
        self._readable = asyncio.Event()

    def write(self, frame: bytes) -> bool:
        if self.aborted:
            raise ConnectionResetError("aborted")
        self.frames.append(frame)
        self.buffered += len(frame) + header_size(len(frame))  # the bytes a WebSocket frame takes
        return self.buffered <= self.room

    def unsent(self) -> int:
        return self.buffered

    def ping(self) -> None:
        self.pings = getattr(self, "pings", 0) + 1

    async def drain(self) -> None:
        while self.buffered > self.room:
            self._readable.clear()
            await self._readable.wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        await self.drain()  # a peer that does not read never answers the close

    def abort(self) -> None:
        self.aborted = True

    def stall(self) -> None:
        """Nothing more is read: the next write finds the transport full."""
        self.room = 0

    def read(self) -> list[dict[str, Any]]:
        """The peer reads everything written so far; the messages, arrays split."""
        self.buffered = 0
        self.room = max(self.room, 1 << 30)
        self._readable.set()
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            parsed = check_server(json.loads(frame))
            out.extend(parsed if isinstance(parsed, list) else [parsed])
        self.frames.clear()
        return out
