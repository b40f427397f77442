"""Configuration of the IBKR feed: a frozen dataclass, validated on construction; no ib_insync.

>>> cfg = IBKRConfig(port=7497, symbols=["EURUSD", "AAPL"])
>>> cfg.symbols
('EURUSD', 'AAPL')
>>> backoff = cfg.backoff(rng=random.Random(0))
>>> backoff.initial, backoff.factor, backoff.maximum, backoff.jitter
(0.5, 2.0, 30.0, 0.2)
>>> parse_address("gateway.local:4002")
('gateway.local', 4002)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..addresses import parse_address  # the one HOST:PORT parser, re-exported here
from ..errors import ConfigError
from ..operators import Backoff
from .symbols import parse_symbols

__all__ = ["IBKRConfig", "parse_address"]


@dataclass(frozen=True, slots=True)
class IBKRConfig:
    """Where TWS / IB Gateway listens, what to subscribe to, and how to reconnect.

    ``symbols`` may be any iterable of rxstream symbols (``EURUSD``, ``AAPL``);
    they are normalised to an upper-case tuple. The client-id strategy: the feed
    connects with ``client_id``; when TWS answers 326 (id in use, typically a
    crashed session not yet reaped) it tries the next id at once, cycling through
    ``client_id .. client_id + client_id_range - 1`` and backing off only after a
    full cycle; after a disconnect it starts with the id that worked last.
    """

    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str = ""
    """Account for account updates; empty: the only managed account, if there is one."""
    symbols: tuple[str, ...] = field(default=("EURUSD",))
    client_id_range: int = 8
    backoff_initial: float = 0.5
    """Seconds before the first reconnect attempt."""
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    backoff_jitter: float = 0.2
    """Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""
    connect_timeout: float = 4.0
    """Seconds for the TCP connect, the API handshake and each initial sync request."""
    heartbeat_interval: float = 30.0
    """Seconds between CURRENT_TIME round trips that prove the link alive; 0 disables."""
    commission_wait: float = 2.0
    """Seconds a fill waits for its commission report before it is published without one."""
    dedupe_capacity: int = 10_000
    """How many published exec ids are remembered to drop resent executions."""
    health_prefix: str = "ibkr"
    """Health streams are ``<prefix>.ticks``, ``<prefix>.positions`` and ``<prefix>.fills``."""
    readonly: bool = False

    def __post_init__(self) -> None:
        symbols = tuple(spec.symbol for spec in parse_symbols(self.symbols))
        object.__setattr__(self, "symbols", symbols)
        if not self.host:
            raise ConfigError("host", "must not be empty")
        if not 0 < self.port < 65536:
            raise ConfigError("port", f"must be 1..65535, got {self.port}")
        if self.client_id < 0:
            raise ConfigError("client_id", f"must be >= 0, got {self.client_id}")
        if self.client_id_range < 1:
            raise ConfigError("client_id_range", f"must be >= 1, got {self.client_id_range}")
        for name in ("backoff_initial", "backoff_max", "connect_timeout", "commission_wait"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, f"must be positive, got {getattr(self, name)}")
        if self.backoff_max < self.backoff_initial:
            raise ConfigError("backoff_max", f"must be >= backoff_initial, got {self.backoff_max}")
        if self.backoff_factor < 1:
            raise ConfigError("backoff_factor", f"must be >= 1, got {self.backoff_factor}")
        if not 0 <= self.backoff_jitter < 1:
            raise ConfigError("backoff_jitter", f"must be within [0, 1), got {self.backoff_jitter}")
        if self.heartbeat_interval < 0:
            raise ConfigError("heartbeat_interval", f"must be >= 0, got {self.heartbeat_interval}")
        if self.dedupe_capacity < 1:
            raise ConfigError("dedupe_capacity", f"must be >= 1, got {self.dedupe_capacity}")

    @property
    def address(self) -> str:
        """``host:port``, as log messages name the connection."""
        return f"{self.host}:{self.port}"

    @property
    def client_ids(self) -> tuple[int, ...]:
        """The client ids tried on error 326, in order."""
        return tuple(range(self.client_id, self.client_id + self.client_id_range))

    def backoff(self, *, rng: random.Random | None = None) -> Backoff:
        """The reconnect delays, as :class:`rxstream.operators.Backoff` (the one backoff formula)."""
        return Backoff(self.backoff_initial, self.backoff_factor, self.backoff_max, self.backoff_jitter, rng)
