"""The moderation benchmark's claims, checked small on both databases: the queue's first
page reads its partial index and a search reads the full-text index (no scan of the
comments), and the pages hold what the section expects."""

from __future__ import annotations

from comments.bench.database import OPEN_SITE, SITE
from comments.bench.moderation import measure, seed, uses_index
from comments.store import Store


async def test_queue_and_search_read_their_indexes(store: Store) -> None:
    await store.create_site(SITE, dict(OPEN_SITE))
    await seed(store, queue=2_000, count=60_000)
    figures, plans = await measure(store)
    assert figures["moderation_queue_ms"] > 0 and figures["moderation_search_ms"] > 0
    fts = "comments_fts" if store.is_sqlite else "ix_comments_body_fts"
    assert uses_index(plans["queue"], "ix_comments_queue", sqlite=store.is_sqlite), plans
    assert uses_index(plans["search"], fts, sqlite=store.is_sqlite), plans


def test_a_scan_is_not_taken_for_an_index_read() -> None:
    assert not uses_index(["SCAN comments"], "ix_comments_queue", sqlite=True)
    assert not uses_index(
        ["Limit", "  ->  Seq Scan on comments"], "ix_comments_body_fts", sqlite=False
    )
