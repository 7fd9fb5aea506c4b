"""The moderators' live feed: ``queue.added`` / ``queue.removed`` per site, across nodes.

Unlike article streams it has no seq: a console that reconnects reloads the queue, which
is the truth; the feed only saves it from polling.

A socket lives as long as its moderator's access: the feed re-reads the moderators of
its open sockets every ``session_check_s`` and closes those revoked or changed. Polling
(one indexed read per node per interval, only while sockets are open) rather than a
broker message, because revocation is a command-line write that reaches no node, and
the in-process broker of a single node cannot hear another process at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from typing import Any

from comments.infra.broker import Broker, BrokerUnavailable
from comments.models import dumps

log = logging.getLogger("comments.feed")

# Who a socket was opened as, by moderator id, as the database says now: absent once
# revoked. Values compare equal while nothing about the moderator's access changed.
Sessions = Callable[[Collection[int]], Awaitable[Mapping[int, Hashable]]]
# Whether a subscriber gets an event (decoded): a scoped moderator's filter.
Admit = Callable[[dict[str, Any]], bool]
REVOKED_CLOSE_CODE = 1008  # policy violation: the client must not reconnect as it was


class FeedSubscriber:
    def __init__(
        self,
        site: str,
        limit: int,
        moderator_id: int | None = None,
        session: Hashable = None,
        admit: Admit | None = None,
    ) -> None:
        self.site = site
        # Which events this socket gets (a moderator's sections); None: all.
        self.admit = admit
        self.limit = limit
        self.moderator_id = moderator_id
        self.session = session
        self.frames: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def end(self, code: int, reason: str) -> None:
        """Close the socket after nothing more: what is queued is dropped."""
        if self.close_code is None:
            self.frames.clear()
            self.close_code = code
            self.close_reason = reason
            self.wakeup.set()

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
    def __init__(
        self,
        broker: Broker,
        prefix: str,
        queue_limit: int = 1000,
        *,
        sessions: Sessions | None = None,
        session_check_s: float = 0.5,
    ) -> None:
        self.broker = broker
        self.prefix = f"{prefix}:mod:"
        self.queue_limit = queue_limit
        self.node = secrets.token_hex(6).encode()
        self.sites: dict[str, set[FeedSubscriber]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.sessions = sessions
        self.session_check_s = session_check_s
        self._watch: asyncio.Task[None] | None = None

    def owns(self, channel: str) -> bool:
        return channel.startswith(self.prefix)

    async def attach(
        self,
        site: str,
        moderator_id: int | None = None,
        session: Hashable = None,
        admit: Admit | None = None,
    ) -> FeedSubscriber:
        """A subscriber to ``site``'s feed; with ``moderator_id``, one that is closed
        when ``sessions`` no longer returns ``session`` for that moderator; with
        ``admit``, one that gets only the events it admits."""
        sub = FeedSubscriber(site, self.queue_limit, moderator_id, session, admit)
        subs = self.sites.setdefault(site, set())
        subs.add(sub)
        if len(subs) == 1:
            await self.broker.subscribe(self.prefix + site)
        if moderator_id is not None and self.sessions is not None and self._watch is None:
            self._watch = asyncio.create_task(self._watch_sessions())
        return sub

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    async def _watch_sessions(self) -> None:
        assert self.sessions is not None
        try:
            while True:
                await asyncio.sleep(self.session_check_s)
                watched = {
                    sub: sub.moderator_id
                    for subs in self.sites.values()
                    for sub in subs
                    if sub.moderator_id is not None
                }
                if not watched:
                    continue
                try:
                    now = await self.sessions(set(watched.values()))
                except Exception as exc:
                    # The database is away: keep the sockets (they get no new items while
                    # it is) and check again next time, rather than dropping every console.
                    log.warning("moderator sessions not checked: %s", exc)
                    continue
                for sub, moderator_id in watched.items():
                    if now.get(moderator_id) != sub.session:
                        log.info(
                            "moderation socket of moderator %s closed: access revoked or changed",
                            moderator_id,
                        )
                        sub.end(REVOKED_CLOSE_CODE, "access revoked or changed; sign in again")
        finally:
            self._watch = None

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
        event: dict[str, Any] | None = None
        for sub in list(self.sites.get(site, ())):
            if sub.admit is not None:
                event = json.loads(text) if event is None else event
                if not sub.admit(event):
                    continue
            sub.push(text)
