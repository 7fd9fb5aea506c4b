"""The transactional outbox: webhook messages written in the change's own transaction.

``Outbox.enqueue(conn, …)`` is called inside the transaction that makes a change (a
comment published, held, rejected, removed, edited; a report; a ban), so a message
exists if and only if the change committed. Rows are written only for the site's
webhooks subscribed to that event; whether there is any is answered from a small
per-store cache, so a site without webhooks pays no query on its hot paths.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.models import dumps, format_time, utcnow
from comments.store.hook_tables import outbox, webhooks

EVENTS = (
    "comment.published",
    "comment.held",
    "comment.rejected",
    "comment.removed",
    "comment.edited",
    "report.created",
    "author.banned",
)
# A webhook added on another node (or the CLI) is seen here within this long.
SUBSCRIBERS_TTL_S = 5.0


class Outbox:
    """Which events each site's webhooks want (cached), and the enqueueing itself."""

    def __init__(self, ttl_s: float = SUBSCRIBERS_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._wanted: dict[str, tuple[float, frozenset[str]]] = {}
        # Asked once: a database not yet migrated to webhooks (tests of older
        # migrations write through the current code) has none.
        self._has_table: bool | None = None

    def forget(self, site: str) -> None:
        """A webhook of ``site`` changed here: look again at the next event."""
        self._wanted.pop(site, None)

    async def wanted(self, conn: AsyncConnection, site: str, event: str) -> bool:
        cached = self._wanted.get(site)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            if self._has_table is None:
                self._has_table = await conn.run_sync(
                    lambda sync: sa.inspect(sync).has_table(webhooks.name)
                )
            if not self._has_table:
                return False
            rows = await conn.execute(sa.select(webhooks.c.events).where(webhooks.c.site == site))
            events: set[str] = set()
            for row in rows:
                events.update(json.loads(row.events))
            cached = (now + self.ttl_s, frozenset(events))
            self._wanted[site] = cached
        return event in cached[1]

    async def enqueue(
        self,
        conn: AsyncConnection,
        site: str,
        event: str,
        order_key: str,
        data: dict[str, Any],
    ) -> bool:
        """Write ``event`` for every webhook of ``site`` that receives it, in ``conn``'s
        transaction. ``order_key`` (an article's key) is what delivery keeps in order.
        False when no webhook wanted it (nothing written)."""
        if not await self.wanted(conn, site, event):
            return False
        now = utcnow()
        payload = dumps({"type": event, "timestamp": format_time(now), "data": data})
        msg_id = f"msg_{uuid.uuid4().hex}"
        # INSERT … SELECT: the cache may be stale; the table says who is subscribed now.
        subscribed = sa.select(
            webhooks.c.id,
            sa.literal(site),
            sa.literal(event),
            sa.literal(order_key),
            sa.literal(msg_id),
            sa.literal(payload),
            sa.literal("pending"),
            sa.literal(0),
            sa.literal(now, outbox.c.next_attempt_at.type),
            sa.literal(now, outbox.c.created_at.type),
        ).where(webhooks.c.site == site, webhooks.c.events.contains(f'"{event}"'))
        await conn.execute(
            sa.insert(outbox).from_select(
                [
                    "webhook_id",
                    "site",
                    "event",
                    "order_key",
                    "msg_id",
                    "payload",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ],
                subscribed,
            )
        )
        return True
