"""``Store.reading``: a post's checks read on one connection, taken at the first read
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event

from comments.store import Store, StoreUnavailable, create_store


def count_checkouts(store: Store) -> list[int]:
    taken = [0]

    def checkout(*_: object) -> None:
        taken[0] += 1

    event.listen(store.engine.sync_engine.pool, "checkout", checkout)
    return taken


async def test_reads_in_a_scope_share_one_connection_taken_at_the_first(store: Store) -> None:
    await store.create_site("news", {})
    taken = count_checkouts(store)
    async with store.reading():
        assert taken == [0]  # nothing read yet: no connection
        async with store.reading():  # nested: the same scope
            assert await store.get_article("news", "a") is None
        assert await store.guest_by_token("news", "no-such-token") is None
        assert not await store.is_duplicate("g:x", "text", timedelta(minutes=1))
        assert taken == [1]
        # A task started inside reads on a connection of its own.
        assert await asyncio.create_task(store.get_article("news", "a")) is None
        assert taken == [2]
        # Writes keep their own connection, and the scope's reads see them.
        await store.set_article_state("news", "a", closed=True)
        found = await store.get_article("news", "a")
        assert found is not None and found.closed
    assert await store.get_article("news", "a") is not None  # out of the scope: its own
    assert taken[0] == 4


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////nonexistent-folder/comments.db",
        "postgresql+asyncpg://postgres@127.0.0.1:9/comments",  # nothing listens there
    ],
)
async def test_a_scope_reads_nothing_without_a_database_and_fails_as_a_503(url: str) -> None:
    store = create_store(url, pool_timeout=1.0)
    try:
        async with store.reading():  # a request refused before it reads: no connection
            pass
        with pytest.raises(StoreUnavailable):
            async with store.reading():
                await store.get_article("news", "a")
    finally:
        await store.close()
