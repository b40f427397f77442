"""The WebSocket gateway: a sans-I/O protocol core, the broadcaster, the aiohttp app, auth and metrics.

::

    bus ──▶ broadcaster (per-client outbox, conflation, max_rate) ──▶ /ws
                 ▲ events                                              │ frames
                 └──────────── protocol.Connection ◀───────────────────┘

The protocol is documented in ``docs/WEBSOCKET_USAGE.md`` and ``docs/schema/``.
"""

from .app import Backend, StaticBackend, create_app, run
from .auth import OriginPolicy, TokenAuth
from .broadcaster import Broadcaster
from .metrics import GatewayMetrics
from .protocol import CloseCode, Connection, ErrorCode, Grant, Limits

__all__ = [
    "Backend",
    "Broadcaster",
    "CloseCode",
    "Connection",
    "ErrorCode",
    "GatewayMetrics",
    "Grant",
    "Limits",
    "OriginPolicy",
    "StaticBackend",
    "TokenAuth",
    "create_app",
    "run",
]
