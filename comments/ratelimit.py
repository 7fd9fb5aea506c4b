"""Posting rate limits: a sliding window per key, in this node's memory."""

from __future__ import annotations

import math
import time
from collections import deque


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` per key; 0 means no limit."""

    def __init__(self, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str, limit: int, *, now: float | None = None) -> float | None:
        """Record a hit; None when allowed, else the seconds until one is allowed."""
        if limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._evict(now)
            hits = self._hits[key] = deque()
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.0, self.window_s - (now - hits[0]))
        hits.append(now)
        return None

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or now - h[-1] >= self.window_s]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
