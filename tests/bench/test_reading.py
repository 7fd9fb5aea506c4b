"""The reading benchmark's claim, checked on both databases: the first page of a thread
is read through an index, in page order, with no scan of the comments and no sort."""

from __future__ import annotations

from comments.bench.database import OPEN_SITE, SITE
from comments.bench.reading import ARTICLE, page_plans, reads_by_index, seed
from comments.store import Store


async def test_first_page_is_read_from_the_index_both_ways(store: Store) -> None:
    await store.create_site(SITE, dict(OPEN_SITE))
    await seed(store, 300)
    plans = await page_plans(store, SITE, ARTICLE)
    assert set(plans) == {"oldest", "newest"}
    for name, plan in plans.items():
        assert reads_by_index(plan, sqlite=store.is_sqlite), f"{name} first: {plan}"
        assert any("ix_comments_article_seq" in line for line in plan), plan


def test_a_scan_or_a_sort_is_not_taken_for_an_index_read() -> None:
    # What the planners print when the page is read the slow way.
    assert not reads_by_index(["SCAN comments", "USE TEMP B-TREE FOR ORDER BY"], sqlite=True)
    assert not reads_by_index(
        [
            "SEARCH comments USING INDEX ix_comments_article_seq (article_id=?)",
            "USE TEMP B-TREE FOR ORDER BY",
        ],
        sqlite=True,
    )
    assert not reads_by_index(
        ["Limit", "  ->  Sort", "        ->  Seq Scan on comments"], sqlite=False
    )
    assert not reads_by_index(
        ["Limit", "  ->  Sort", "        ->  Bitmap Heap Scan on comments"], sqlite=False
    )
