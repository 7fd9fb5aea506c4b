"""The console's queries on both databases: a scoped moderator's article-id prefixes
filter the queue and the search (the prefix is text, never a pattern)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from comments.models import Status
from comments.store import Store
from comments.store.queue import queue_page, rerank
from comments.store.search import Search, search
from comments.store.tables import comments
from tests.conftest import OPEN_SITE


async def test_prefixes_scope_the_queue_and_the_search(store: Store) -> None:
    await store.create_site("news", dict(OPEN_SITE))
    author, _ = await store.create_guest("news", "Ana")
    for article in ("sport/derby", "politics/vote", "sport%/odd"):
        for status in (Status.HELD, Status.PUBLISHED):
            await store.create_comment(
                site="news",
                article=article,
                author=author,
                body=f"about the match in {article}",
                parent=None,
                status=status,
            )

    async def queued(prefixes: list[str] | None) -> set[str]:
        page = await queue_page(store, "news", reports_before_review=3, limit=50, prefixes=prefixes)
        return {i.comment.article for i in page.items}

    assert await queued(None) == {"sport/derby", "politics/vote", "sport%/odd"}
    assert await queued(["sport/"]) == {"sport/derby"}
    assert await queued(["sport%"]) == {"sport%/odd"}
    assert await queued([]) == set()
    items, _ = await search(store, "news", Search(q="match"), limit=50, prefixes=["politics/"])
    assert {(i.comment.article, i.comment.status) for i in items} == {
        ("politics/vote", Status.HELD),
        ("politics/vote", Status.PUBLISHED),
    }


async def test_rerank_stores_risks_for_new_thresholds(store: Store) -> None:
    await store.create_site("news", dict(OPEN_SITE))
    author, _ = await store.create_guest("news", "Ana")
    comment, _ = await store.create_comment(
        site="news", article="a", author=author, body="x", parent=None, status=Status.HELD
    )
    await store.set_scores(comment.id, {"toxicity": 0.4}, risk=0.5)
    assert await rerank(store, "news", lambda s: s["toxicity"] / 0.2) == 1
    page = await queue_page(store, "news", reports_before_review=3, limit=5)
    assert [i.comment.id for i in page.items] == [comment.id]
    async with store.engine.connect() as conn:
        risk = (
            await conn.execute(sa.select(comments.c.risk).where(comments.c.id == comment.id))
        ).scalar_one()
    assert risk == pytest.approx(2.0)
