"""The moderators' live feed: ``queue.added`` / ``queue.removed`` per site, across nodes.

Unlike article streams it has no seq: a console that reconnects reloads the queue, which
is the truth; the feed only saves it from polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from typing import Any

from comments.infra.broker import Broker, BrokerUnavailable
from comments.models import dumps

log = logging.getLogger("comments.feed")


class FeedSubscriber:
    def __init__(self, site: str, limit: int) -> None:
        self.site = site
        self.limit = limit
        self.frames: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.close_code: int | None = None

    def take(self) -> str | None:
        return self.frames.popleft() if self.frames else None

    def push(self, text: str) -> None:
        if self.close_code is not None:
            return
        self.frames.append(text)
        if len(self.frames) > self.limit:
            self.frames.clear()
            self.close_code = 1013
        self.wakeup.set()


class ModerationFeed:
    def __init__(self, broker: Broker, prefix: str, queue_limit: int = 1000) -> None:
        self.broker = broker
        self.prefix = f"{prefix}:mod:"
        self.queue_limit = queue_limit
        self.node = secrets.token_hex(6).encode()
        self.sites: dict[str, set[FeedSubscriber]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def owns(self, channel: str) -> bool:
        return channel.startswith(self.prefix)

    async def attach(self, site: str) -> FeedSubscriber:
        sub = FeedSubscriber(site, self.queue_limit)
        subs = self.sites.setdefault(site, set())
        subs.add(sub)
        if len(subs) == 1:
            await self.broker.subscribe(self.prefix + site)
        return sub

    async def detach(self, sub: FeedSubscriber) -> None:
        subs = self.sites.get(sub.site)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self.sites[sub.site]
            with contextlib.suppress(BrokerUnavailable):
                await self.broker.unsubscribe(self.prefix + sub.site)

    def publish(self, site: str, event: dict[str, Any]) -> None:
        text = dumps(event)
        self._deliver(site, text)
        task = asyncio.ensure_future(self._send(site, self.node + b"\n" + text.encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, site: str, data: bytes) -> None:
        try:
            await self.broker.publish(self.prefix + site, data)
        except BrokerUnavailable as exc:
            log.warning("moderation feed of %s not shared with other nodes: %s", site, exc)

    def on_message(self, channel: str, data: bytes) -> None:
        node, _, body = data.partition(b"\n")
        if node == self.node:
            return  # delivered locally already
        self._deliver(channel[len(self.prefix) :], body.decode())

    def _deliver(self, site: str, text: str) -> None:
        for sub in list(self.sites.get(site, ())):
            sub.push(text)
