"""The rate-limiter interface: count a hit against a key, say how long to wait.

Nodes behind one load balancer must share their counts, or a client that alternates
between N nodes gets N times its limit: with Redis configured the count lives there.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

# Name -> import string, so redis is imported only when it is used.
LIMITERS = {
    "redis": "comments.infra.ratelimit.redis:RedisRateLimiter",
    "rediss": "comments.infra.ratelimit.redis:RedisRateLimiter",
    "redis-cluster": "comments.infra.ratelimit.redis:RedisRateLimiter",
    "rediss-cluster": "comments.infra.ratelimit.redis:RedisRateLimiter",
}
MEMORY = "comments.infra.ratelimit.memory:MemoryRateLimiter"


class RateLimiter(ABC):
    """At most ``limit`` hits per ``window_s`` seconds per key."""

    @abstractmethod
    async def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        """Count one hit against ``key`` unless that would exceed the limit.

        Args:
            key: what is limited, e.g. ``post-ip:news:203.0.113.9``.
            limit: hits allowed within any ``window_s`` seconds; 0 or less is no limit.
            window_s: the sliding window's length.

        Returns:
            None when the hit is allowed (and counted), else the seconds until one will
            be (a refused hit is not counted).
        """

    async def close(self) -> None:  # noqa: B027 - most limiters hold nothing to close
        """Release connections."""

    async def hit_all(
        self, checks: Mapping[str, tuple[str, int]], refused: Callable[[str], object]
    ) -> float | None:
        """Count one hit on each named ``(key, limit)`` at once (with Redis each is a
        round trip); ``refused`` is told the name of each limit that said no.

        Returns:
            None when every hit was allowed, else the longest wait among the refusals.
        """
        names = list(checks)
        waits = await asyncio.gather(*(self.hit(*checks[name]) for name in names))
        for name, wait in zip(names, waits, strict=True):
            if wait is not None:
                refused(name)
        return max((w for w in waits if w is not None), default=None)


def create_limiter(url: str, prefix: str = "comments") -> RateLimiter:
    """Shared through Redis for a ``redis://``, ``rediss://`` or Redis Cluster
    (``redis-cluster://``, ``rediss-cluster://``) URL, else in this node's memory.
    ``prefix`` keeps deployments sharing one Redis apart."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    target = LIMITERS.get(scheme)
    module, name = (target or MEMORY).split(":")
    cls = getattr(importlib.import_module(module), name)
    limiter: RateLimiter = cls(url, prefix) if target else cls()
    return limiter


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
