"""Exceptions raised by rxstream; every one derives from :class:`RxstreamError`.

The tree::

    RxstreamError
    ├── ValidationError        an event field is missing or wrong (names the field)
    ├── TickFileError          a tick file line is bad (``FILE:LINE: reason``)
    ├── PipelineLoadError      a pipelines/ module is broken (``FILE:LINE: reason``)
    ├── ConfigError            a setting is invalid (names the setting)
    ├── ArgumentError          a call got an argument it cannot use (names the call)
    │   └── ArgumentTypeError  ... of a type it cannot use (also a ``TypeError``)
    ├── UnknownNameError       a name nobody declared: a source, a stream, a symbol
    ├── UsageError             an object used out of order: started twice, used before start
    ├── StreamError            a stream failed at run time (names the stream)
    ├── ProtocolError          a peer broke a protocol: a WebSocket client, or a TWS socket
    │                          (``tws.*`` codes); carries a code
    │   └── AuthError          a token is missing, bad or expired
    ├── SourceConnectionError  a broker connection could not be made (names host and port)
    ├── ClientClosed           a StreamClient stopped for good (closed, or a close code it must not retry)
    ├── LeaseHeld              another ingest holds the bus's write lease (names the holder)
    ├── BrokerLibraryMissing   neither ib_insync nor ib_async is installed (also an ImportError)
    └── OrderError             an order cannot be placed as asked (unknown symbol, bad side or quantity)

Each carries the structured parts of its message as attributes, so code can
react to *what* went wrong without parsing strings. A mistake in how rxstream is
configured or called also keeps the builtin it would once have been as a second
base (``ConfigError``, ``ArgumentError`` and ``ValidationError`` are each a ``ValueError``,
``ArgumentTypeError`` a ``TypeError``, ``UnknownNameError`` a ``KeyError``,
``UsageError`` a ``RuntimeError``), so ``except ValueError`` written against an
older release still catches them.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "AuthError",
    "BrokerLibraryMissing",
    "ClientClosed",
    "ConfigError",
    "LeaseHeld",
    "OrderError",
    "PipelineLoadError",
    "ProtocolError",
    "RxstreamError",
    "SourceConnectionError",
    "StreamError",
    "TickFileError",
    "UnknownNameError",
    "UsageError",
    "ValidationError",
]


class RxstreamError(Exception):
    """Root of every error rxstream raises on purpose."""


class ValidationError(RxstreamError, ValueError):
    """An event could not be built: ``field`` names what was wrong."""

    def __init__(self, field: str, reason: str, *, event: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.event = event
        where = f"{event}.{field}" if event else field
        super().__init__(f"{where}: {reason}")


class TickFileError(RxstreamError):
    """A line of a tick file is bad; ``str()`` reads ``FILE:LINE: reason``."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}")


class PipelineLoadError(RxstreamError):
    """A pipeline module could not be loaded; ``str()`` reads ``FILE:LINE: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class ConfigError(RxstreamError, ValueError):
    """A setting is invalid: ``setting`` names it, ``reason`` says why."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"setting {setting!r}: {reason}")


class StreamError(RxstreamError):
    """A stream failed while running: ``stream`` names it."""

    def __init__(self, stream: str, reason: str) -> None:
        self.stream = stream
        self.reason = reason
        super().__init__(f"stream {stream!r}: {reason}")


class ProtocolError(RxstreamError):
    """A peer broke a protocol; ``code`` is the documented error code (``tws.*`` for the TWS socket)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class AuthError(ProtocolError):
    """A token was missing, malformed, badly signed or expired."""


class SourceConnectionError(RxstreamError):
    """A broker connection could not be made to ``host:port``."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot connect to {host}:{port}: {reason}")


class ClientClosed(RxstreamError):
    """A :class:`rxstream.client.StreamClient` stopped for good: closed by you, or by the server with
    ``code`` (a close code it must not retry, such as 4001); ``reason`` says which."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed ({code}): {reason}")


class ArgumentError(RxstreamError, ValueError):
    """A function or constructor got an argument it cannot use; ``str()`` reads ``where: reason``."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of a type the call cannot use (e.g. a scheduler that is not a ReplayScheduler)."""


class UnknownNameError(RxstreamError, KeyError):
    """A name that was never declared: ``kind`` is what it names (``source``, ``stream``...)."""

    def __init__(self, kind: str, name: str, reason: str = "") -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        super().__init__(f"unknown {kind} {name!r}" + (f": {reason}" if reason else ""))

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class UsageError(RxstreamError, RuntimeError):
    """An object was used out of order: ``subject`` names it, ``reason`` says what (``already started``)."""

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"{subject}: {reason}")


class LeaseHeld(RxstreamError, RuntimeError):
    """Another ingest holds the write lease of the bus at ``bus``: ``owner``, for ``expires_in`` more seconds."""

    def __init__(self, bus: str, owner: str, expires_in: float) -> None:
        self.bus = bus
        self.owner = owner
        self.expires_in = expires_in
        super().__init__(
            f"another ingest ({owner}) is writing to {bus} (its lease expires in {expires_in:.1f} s unless renewed);"
            " start this one with --standby to take over when it stops"
        )


class BrokerLibraryMissing(RxstreamError, ImportError):
    """The IBKR feed was asked for, but neither ib_insync nor ib_async is installed."""


class OrderError(RxstreamError, ValueError):
    """An order cannot be placed as asked: a symbol not configured, a side not BUY/SELL, a quantity <= 0."""
