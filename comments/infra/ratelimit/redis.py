"""Rate limits shared by every node through Redis: a sorted set of hit times per key.
Redis is one server or a Redis Cluster (comments/infra/redis_client.py): the script touches one
key, so on a cluster it runs on the master of that key's slot, and keys spread over them.

One Lua script drops the hits that left the window, counts the rest and adds this one,
atomically, so nodes hitting one key at once never both take the last slot. Hit times
come from the Redis server's clock, the one clock every node shares. Keys expire with
their window, so an idle client leaves nothing behind.

Redis (or the cluster) being away must not fail a post: each check then falls back to
this node's memory (a per-node limit rather than none), logged once per outage and
counted in ``fallbacks``. After a failure Redis is left alone for ``RETRY_S``, so an
outage costs posts at most one short timeout per node per ``RETRY_S``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
import time
from collections.abc import Callable

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from comments.infra import redis_client
from comments.infra.ratelimit.base import RateLimiter
from comments.infra.ratelimit.memory import MemoryRateLimiter

log = logging.getLogger("comments.ratelimit")

TIMEOUT_S = 0.5
RETRY_S = 1.0

# KEYS[1] the key; ARGV: limit, window (µs), now (µs, or "" for the server's clock),
# a member unique to this hit. Returns -1 when allowed, else µs until a hit will be.
SLIDING_WINDOW = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(0, window - (now - tonumber(oldest[2])))
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(window / 1000))
return -1
"""


class RedisRateLimiter(RateLimiter):
    def __init__(
        self,
        url: str,
        prefix: str = "comments",
        *,
        clock: Callable[[], float] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        """``url`` names one Redis or a Redis Cluster; ``clock`` (seconds) replaces the
        server's clock, for tests of the window; ``timeout_s`` bounds each call before
        the memory fallback answers."""
        self.prefix = f"{prefix}:ratelimit:"
        self.clock = clock
        # No retries: a post must not wait out a backoff; the memory fallback answers.
        self._redis = redis_client.connect(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(SLIDING_WINDOW)
        self._member = f"{secrets.token_hex(6)}:"
        self._counter = itertools.count()
        self._memory = MemoryRateLimiter()
        self._timeout_s = timeout_s
        self._retry_at = 0.0
        self._outage = False
        self.fallbacks = 0

    async def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        if limit <= 0:
            return None
        if time.monotonic() < self._retry_at:
            return self._fallback(key, limit, window_s)
        now = "" if self.clock is None else str(round(self.clock() * 1e6))
        member = f"{self._member}{next(self._counter)}"
        args: list[int | str] = [limit, math.ceil(window_s * 1e6), now, member]
        try:
            # The socket timeouts bound each read; this bounds the whole call.
            wait_us = await asyncio.wait_for(
                self._run(self.prefix + key, args), self._timeout_s * 2
            )
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            self._retry_at = time.monotonic() + RETRY_S
            if not self._outage:
                self._outage = True
                log.warning(
                    "rate limits fall back to this node's memory: Redis is unavailable (%s)",
                    str(exc) or type(exc).__name__,
                )
            return self._fallback(key, limit, window_s)
        if self._outage:
            self._outage = False
            log.warning("rate limits are shared through Redis again")
        return None if wait_us < 0 else wait_us / 1e6

    async def _run(self, key: str, args: list[int | str]) -> int:
        await redis_client.ready(self._redis)
        return int(await self._script(keys=[key], args=args))

    def _fallback(self, key: str, limit: int, window_s: float) -> float | None:
        self.fallbacks += 1
        return self._memory.check(key, limit, window_s)

    async def close(self) -> None:
        await self._redis.aclose()
