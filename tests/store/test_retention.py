"""Personal data expires (docs/operations.md, "Personal data"): reports' reader
identities and comments' network keys older than the retention period are forgotten;
recent ones stay. Times are set directly in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from comments.models import Status
from comments.settings import Settings
from comments.store import Store
from comments.store.retention import purge_personal_data
from comments.store.review import ReviewStore
from comments.store.review_tables import reports
from comments.store.tables import comments


async def test_purge_forgets_old_reporters_and_network_keys_and_keeps_recent(
    store: Store,
) -> None:
    assert await store.create_site("rt", {"guests": True})
    ana, _ = await store.create_guest("rt", "Ana")
    made = []
    for i in range(5):
        c, _ = await store.create_comment(
            site="rt", article="a", author=ana, body=f"c{i}", parent=None, status=Status.PUBLISHED
        )
        made.append(c.id)
    review = ReviewStore(store)
    for i, cid in enumerate(made):
        await review.add_report(cid, f"reader-{i}", "spam")
    now = datetime.now(UTC)
    old, recent = made[:3], made[3:]
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(comments).values(network_key="k" * 64))
        await conn.execute(
            sa.update(comments)
            .where(comments.c.id.in_(old))
            .values(created_at=now - timedelta(days=40))
        )
        await conn.execute(
            sa.update(reports)
            .where(reports.c.comment_id.in_(old))
            .values(created_at=now - timedelta(days=40))
        )
    # A batch of 2 makes the purge loop more than once.
    changed = await purge_personal_data(store, now - timedelta(days=30), batch=2)
    assert changed == 6
    async with store.engine.connect() as conn:
        keys = dict((await conn.execute(sa.select(comments.c.id, comments.c.network_key))).all())
        who = dict((await conn.execute(sa.select(reports.c.comment_id, reports.c.reporter))).all())
        count = (await conn.execute(sa.select(sa.func.count()).select_from(reports))).scalar()
    assert all(keys[c] is None for c in old) and all(keys[c] == "k" * 64 for c in recent)
    assert all(who[c].startswith("expired:") for c in old)
    assert [who[c] for c in recent] == ["reader-3", "reader-4"]
    assert count == 5  # the reports themselves stay
    assert await purge_personal_data(store, now - timedelta(days=30)) == 0  # idempotent


def test_retention_is_read_once_from_the_environment() -> None:
    assert Settings.from_env({}).personal_data_retention_days == 30
    env = {"COMMENTS_PERSONAL_DATA_RETENTION_DAYS": "7"}
    assert Settings.from_env(env).personal_data_retention_days == 7
