"""One writer per bus: a lease held as a Redis key with a time to live (``SET NX PX``).

The ingest that holds the lease renews it every third of its time to live; a
second ingest is refused while it is held, or, started as a standby, polls
until it expires (its holder killed) or is released (its holder stopped) and
takes over. Renewal and release are scripts that act only while the key still
names this holder, so an ingest that lost its lease cannot extend someone else's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import ConfigError
from .cancellation import cancel_requests, raise_if_cancelled

__all__ = ["Lease", "LeaseHolder"]

log = logging.getLogger(__name__)

_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0 end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease and for how much longer."""

    owner: str
    expires_in: float


class Lease:
    """The write lease of one bus, held by ``owner`` (default: ``HOST:PID``) for ``ttl`` seconds at a time."""

    def __init__(self, client: Redis, key: str, *, ttl: float = 5.0, owner: str | None = None) -> None:
        if ttl < 0.1:
            raise ConfigError("lease_seconds", f"must be at least 0.1, got {ttl}")
        self.key = key
        self.ttl = ttl
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._client: Any = client  # redis-py types replies as unions of its sync and async forms
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self._client.set(self.key, self.owner, nx=True, px=int(self.ttl * 1000)))

    async def holder(self) -> LeaseHolder | None:
        """Who holds the lease now (None: nobody)."""
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self.key)
        pipe.pttl(self.key)
        owner, pttl = await pipe.execute()
        return LeaseHolder(owner.decode(), max(0, pttl) / 1000) if owner is not None else None

    async def renew(self) -> bool:
        """Extend the lease (or take it again if it lapsed); False when another holder has it."""
        return bool(await self._renew(keys=[self.key], args=[self.owner, int(self.ttl * 1000)]))

    async def release(self) -> None:
        """Give the lease up now, if it is still ours, so a standby takes over at once."""
        await self._release(keys=[self.key], args=[self.owner])

    async def wait(self, stop: asyncio.Event | None = None) -> bool:
        """Poll until the lease is ours (True) or ``stop`` is set (False)."""
        interval = self.ttl / 4
        cancels = cancel_requests()
        while not (stop is not None and stop.is_set()):
            raise_if_cancelled(cancels)  # cancelled while a command finished (see cancellation)
            try:
                if await self.acquire():
                    return True
            except (RedisError, OSError) as error:
                log.info("standby: cannot reach the bus (%s); still waiting", error)
            try:
                await asyncio.wait_for(stop.wait(), interval) if stop is not None else await asyncio.sleep(interval)
            except TimeoutError:
                pass
        return False
