"""Delivery logs with a shelf life (docs/operations.md, "Webhooks", "Reply e-mails"):
webhook messages delivered or given up, and reply mails sent, failed or dropped, are
deleted once older than their retention (``COMMENTS_WEBHOOK_LOG_RETENTION_DAYS``,
``COMMENTS_MAIL_LOG_RETENTION_DAYS``). Waiting rows are never touched; recent ones stay,
so the delivery log (``comments webhook log``, the console's settings) still shows them.

Each batch is read first and deleted in a transaction of its own: an idle node (the
usual case) takes no write transaction at all, which on SQLite would make every other
writer wait behind the sweep."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from comments.store.hook_tables import outbox
from comments.store.mail_tables import mail_queue
from comments.store.store import Store

BATCH = 500
# Per call and table: a backlog (a first run on a years-old table) goes over several
# sweeps rather than holding one up.
MAX_BATCHES = 100


@dataclass(frozen=True)
class Trimmed:
    messages: int  # outbox rows deleted
    mails: int  # mail_queue rows deleted


def old_messages(before: datetime) -> Any:
    """Delivered or given up before ``before``. ``next_attempt_at`` (never later than
    ``done_at``) lets the (status, next_attempt_at) index find them."""
    return sa.and_(
        outbox.c.status.in_(("delivered", "failed")),
        outbox.c.next_attempt_at < before,
        outbox.c.done_at < before,
    )


def old_mails(before: datetime) -> Any:
    """Sent, failed or dropped, last due before ``before`` (sent then too)."""
    return sa.and_(
        mail_queue.c.status.in_(("sent", "failed", "dropped")),
        mail_queue.c.next_attempt_at < before,
        sa.or_(mail_queue.c.sent_at.is_(None), mail_queue.c.sent_at < before),
    )


async def _trim(store: Store, table: sa.Table, old: Any, batch: int) -> int:
    deleted = 0
    for _ in range(MAX_BATCHES):
        async with store._read() as conn:
            ids = list(
                (await conn.execute(sa.select(table.c.id).where(old).limit(batch))).scalars()
            )
        if not ids:
            break
        async with store._write() as conn:
            done = await conn.execute(sa.delete(table).where(table.c.id.in_(ids), old))
        deleted += int(done.rowcount or 0)
        if len(ids) < batch:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return deleted


async def trim_logs(
    store: Store, *, messages_before: datetime, mails_before: datetime, batch: int = BATCH
) -> Trimmed:
    """Delete what is past its retention, ``batch`` rows per transaction."""
    return Trimmed(
        messages=await _trim(store, outbox, old_messages(messages_before), batch),
        mails=await _trim(store, mail_queue, old_mails(mails_before), batch),
    )
