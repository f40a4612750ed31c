"""One request schedule for docs.rs, shared by every worker process through Redis.

Each caller reserves the next free slot atomically (a Lua script using Redis's clock), then
sleeps until it. Slots are spaced by 1/rate plus a small margin, so no window of one second
ever sees more than `rate` requests, however many processes share the key.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

# Spacing margin: requests spaced exactly 1/rate apart put rate+1 requests inside a closed
# one-second window; a few percent of slack keeps network jitter from doing the same.
MARGIN = 1.05

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, nxt)
local ttl = math.ceil((start + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', start + interval), 'PX', ttl)
return start - now
"""


class RedisRateLimiter:
    """`await limiter.acquire()` before each request."""

    def __init__(self, redis: Redis, rate_per_second: float, key: str = "rustdocs:docsrs:bucket"):
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.key = key
        self.interval_us = int(1_000_000 * MARGIN / rate_per_second)
        self._script = redis.register_script(_RESERVE)

    async def acquire(self) -> float:
        """Wait for this process's turn; returns the seconds waited."""
        try:
            wait_us = int(await self._script(keys=[self.key], args=[self.interval_us]))
        except (RedisError, OSError) as e:
            raise ServiceUnavailable(
                f"Redis is unavailable for the docs.rs rate limiter: {e}"
            ) from e
        wait = wait_us / 1_000_000
        if wait > 0:
            await asyncio.sleep(wait)
        return wait


class LocalRateLimiter:
    """Same schedule within one process, for tools that run without Redis."""

    def __init__(self, rate_per_second: float):
        self.interval = MARGIN / rate_per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            await asyncio.sleep(wait)
        return wait
