"""What the network brokers share: how long to wait before trying again, and how to name
the server in a log line without giving away its password."""

from __future__ import annotations

import asyncio
import random

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


class Backoff:
    """Doubling waits with full jitter, so N nodes that lost the broker together do not
    all come back in the same millisecond."""

    def __init__(self, first: float = BACKOFF_FIRST_S, limit: float = BACKOFF_MAX_S) -> None:
        self.first = first
        self.limit = limit
        self._next = first

    def reset(self) -> None:
        self._next = self.first

    async def wait(self) -> None:
        await asyncio.sleep(random.uniform(0, self._next))
        self._next = min(self._next * 2, self.limit)


def safe_url(url: str) -> str:
    """``url`` with any credentials replaced by ``***``."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
