"""One request schedule for docs.rs, shared by every worker process through Redis.

A request may go when at least `interval` has passed since the last request granted to any
process: an atomic check-and-set on Redis's clock, made at the moment of sending. A caller
that wakes up late (its event loop was busy) checks again instead of using a slot reserved
earlier, so late wake-ups cannot bunch requests together. Intervals are 1/rate plus a
25% margin, so no one-second window sees more than `rate` requests.
"""

from __future__ import annotations

import asyncio
import logging
import random

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

# Requests spaced exactly 1/rate apart put rate+1 of them inside a closed one-second window.
# The margin also absorbs the gap between a grant and the request reaching docs.rs: rate+1
# requests land in one second only if that gap varies by more than (MARGIN - 1) seconds. At
# 1.10, two worker processes on a loaded 2-core machine (bench load, ONNX threads) sent 6 in
# one second at a limit of 5 (tests/test_faults.py); 1.25 tolerates 250 ms of scheduling delay.
MARGIN = 1.25

_GRANT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if now - last >= interval then
  redis.call('SET', KEYS[1], string.format('%d', now), 'PX', math.ceil(interval / 1000) + 1000)
  return 0
end
return last + interval - now
"""


class RedisRateLimiter:
    """`await limiter.acquire()` right before each request."""

    def __init__(self, redis: Redis, rate_per_second: float, key: str = "rustdocs:docsrs:bucket"):
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.key = key
        self.interval_us = int(1_000_000 * MARGIN / rate_per_second)
        self._script = redis.register_script(_GRANT)

    async def acquire(self) -> float:
        """Wait until this process may send; returns the seconds waited."""
        waited = 0.0
        while True:
            try:
                wait_us = int(await self._script(keys=[self.key], args=[self.interval_us]))
            except (RedisError, OSError) as e:
                raise ServiceUnavailable(
                    f"Redis is unavailable for the docs.rs rate limiter: {e}"
                ) from e
            if wait_us <= 0:
                return waited
            # A little jitter keeps waiters of several processes from waking in lockstep.
            pause = wait_us / 1_000_000 + random.uniform(0, self.interval_us / 10_000_000)
            await asyncio.sleep(pause)
            waited += pause


class LocalRateLimiter:
    """The same rule within one process, for tools that run without Redis."""

    def __init__(self, rate_per_second: float):
        self.interval = MARGIN / rate_per_second
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        loop = asyncio.get_running_loop()
        waited = 0.0
        async with self._lock:
            while (wait := self._last + self.interval - loop.time()) > 0:
                await asyncio.sleep(wait)
                waited += wait
            self._last = loop.time()
        return waited
