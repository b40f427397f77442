"""Test doubles for rxstream's sources: a TWS API simulator the real ib_insync client talks to.

* :mod:`rxstream.testing.codec` — TWS socket framing, sans I/O;
* :mod:`rxstream.testing.messages` — the requests and replies, as pure functions;
* :mod:`rxstream.testing.server` — :class:`TwsSimulator`, the asyncio shell.
"""

from __future__ import annotations

from .server import DEFAULT_ACCOUNT, DEFAULT_POSITIONS, ERROR_MESSAGES, SessionInfo, SimPosition, TwsSimulator

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_POSITIONS", "ERROR_MESSAGES", "SessionInfo", "SimPosition", "TwsSimulator"]
