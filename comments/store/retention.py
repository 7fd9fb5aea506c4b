"""Personal data with a shelf life (docs/operations.md, "Personal data"): reports'
reader identities and comments' network keys are forgotten after the retention period
(``COMMENTS_PERSONAL_DATA_RETENTION_DAYS``), in small batches so no write waits long."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from comments.store.review_tables import reports
from comments.store.store import Store
from comments.store.tables import comments

BATCH = 500
EXPIRED = "expired:"  # a reporter so marked is no one; the row id keeps it unique


async def purge_personal_data(store: Store, before: datetime, batch: int = BATCH) -> int:
    """Forget what is older than ``before``; returns how many rows changed. The report
    itself (reason, time, its count on the comment) stays: moderators still need it."""
    changed = 0
    named = sa.and_(reports.c.created_at < before, ~reports.c.reporter.startswith(EXPIRED))
    keyed = sa.and_(comments.c.created_at < before, comments.c.network_key.is_not(None))
    while True:
        # A read first: an idle node (the usual case) takes no write transaction, which
        # on SQLite would make every other writer wait behind the sweep.
        async with store._read() as conn:
            ids = list(
                (await conn.execute(sa.select(reports.c.id).where(named).limit(batch))).scalars()
            )
            keys = list(
                (await conn.execute(sa.select(comments.c.id).where(keyed).limit(batch))).scalars()
            )
        if not ids and not keys:
            return changed
        async with store._write() as conn:
            for rid in ids:  # per row: the anonymous name embeds each row's id
                await conn.execute(
                    sa.update(reports)
                    .where(reports.c.id == rid, named)
                    .values(reporter=f"{EXPIRED}{rid}")
                )
            if keys:
                await conn.execute(
                    sa.update(comments).where(comments.c.id.in_(keys)).values(network_key=None)
                )
        changed += len(ids) + len(keys)
        if len(ids) < batch and len(keys) < batch:
            return changed
