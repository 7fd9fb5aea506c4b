"""Rate limits in this node's memory: one node, or the fallback while Redis is away."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from comments.infra.ratelimit.base import RateLimiter


class MemoryRateLimiter(RateLimiter):
    """A sliding window per key: the times of the hits still inside it."""

    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._longest_window = 0.0

    async def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        return self.check(key, limit, window_s)

    def check(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        """``hit`` without awaiting (nothing here waits)."""
        if limit <= 0:
            return None
        now = self.clock()
        self._longest_window = max(self._longest_window, window_s)
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._evict(now)
            hits = self._hits[key] = deque()
        while hits and now - hits[0] >= window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.0, window_s - (now - hits[0]))
        hits.append(now)
        return None

    def _evict(self, now: float) -> None:
        window = self._longest_window
        stale = [k for k, h in self._hits.items() if not h or now - h[-1] >= window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]
