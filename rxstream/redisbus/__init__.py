"""The Redis Streams bus: one ingest writes, any number of gateways read.

::

    ingest: engine ──▶ RedisPublisher ──XADD (MULTI, batched)──▶ Redis ──XREAD BLOCK──▶ RedisReader ──▶ gateway
                         seq, epoch, serialize once             streams, latest, seq,     window in memory,
                         bounded buffer while Redis is away      exec ids, epoch, lease    snapshot / resume / rewind

Needs the ``redis`` extra (``pip install 'rxstream[redis]'``: redis-py and hiredis).
See docs/deployment.md.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .health import LagHealth
from .layout import BusAddress, Layout, parse_bus_url
from .lease import Lease, LeaseHolder
from .publisher import PUBLISH_STREAM, RedisPublisher
from .reader import BUS_STREAM, RedisReader

__all__ = [
    "BUS_STREAM",
    "PUBLISH_STREAM",
    "BusAddress",
    "LagHealth",
    "Layout",
    "Lease",
    "LeaseHolder",
    "RedisPublisher",
    "RedisReader",
    "connect",
    "parse_bus_url",
]


def connect(address: BusAddress, *, timeout: float = 10.0) -> Redis:
    """A client for ``address``; errors surface at once (rxstream retries with its own backoff)."""
    return Redis.from_url(
        address.url,
        socket_connect_timeout=2.0,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
