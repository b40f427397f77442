"""Test doubles for rxstream's sources: a TWS API simulator the real ib_insync client talks to.

* :mod:`rxstream.testing.codec` — TWS socket framing, sans I/O;
* :mod:`rxstream.testing.requests` — the requests, parsed into records;
* :mod:`rxstream.testing.messages` — the replies, as pure functions;
* :mod:`rxstream.testing.broker` — orders, matching, positions, cash, margin (pure);
* :mod:`rxstream.testing.history` — historical bars from the tick file (pure);
* :mod:`rxstream.testing.handlers` — one handler per request, in an explicit table;
* :mod:`rxstream.testing.desk` — orders and accounts as TWS messages;
* :mod:`rxstream.testing.listener` — sockets, refusals and stalls;
* :mod:`rxstream.testing.streaming` — the tick source, paced by its timestamps;
* :mod:`rxstream.testing.faults` — the ``--fault`` syntax of ``rxstream sim``;
* :mod:`rxstream.testing.server` — :class:`TwsSimulator`, the asyncio shell.
"""

from __future__ import annotations

from .server import DEFAULT_ACCOUNT, DEFAULT_POSITIONS, ERROR_MESSAGES, SessionInfo, SimPosition, TwsSimulator

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_POSITIONS", "ERROR_MESSAGES", "SessionInfo", "SimPosition", "TwsSimulator"]
