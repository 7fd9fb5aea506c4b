"""Likes written in batches (issue #17: a storm of likes on one comment): a batch answers
every request as if it came alone, moves each count once and bumps each article's
version once; a request that arrives while a batch is being written waits for the next
one, and a failing request fails alone. Both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.infra.group_commit import GroupCommit
from comments.models import Author, Status
from comments.store import Store, create_store
from comments.store.erasure import scrub
from comments.store.reaction_tables import reaction_versions, reactions
from comments.store.reactions import LikeRequest, ReactionStore
from comments.store.review import ReviewStore
from comments.store.store import StoreUnavailable, hash_token
from comments.store.tables import authors, comments
from tests.conftest import wait_until


async def stored_likes(store: Store, comment_id: str) -> tuple[int, int]:
    """(the comment's count, its like rows)."""
    async with store.engine.connect() as conn:
        count = (
            await conn.execute(sa.select(comments.c.reactions).where(comments.c.id == comment_id))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(sa.func.count()).where(reactions.c.comment_id == comment_id)
            )
        ).scalar_one()
    return int(count), int(rows)


async def test_a_batch_answers_each_request_as_alone_and_moves_each_count_once(
    store: Store,
) -> None:
    assert await store.create_site("lk", {"guests": True})
    await store.create_site("other", {"guests": True})
    review = ReviewStore(store)
    author, _ = await store.create_guest("lk", "Ana")
    first, _ = await store.create_comment(
        site="lk", article="a", author=author, body="one", parent=None, status=Status.PUBLISHED
    )
    second, _ = await store.create_comment(
        site="lk", article="a", author=author, body="two", parent=None, status=Status.PUBLISHED
    )
    held, _ = await store.create_comment(
        site="lk", article="a", author=author, body="held", parent=None, status=Status.HELD
    )
    banned, _ = await store.create_guest("lk", "Banned")
    shadowed, _ = await store.create_guest("lk", "Shadow")
    await review.ban("lk", banned.id, by="mod", reason="", until=None, scope=None, shadow=False)
    await review.ban("lk", shadowed.id, by="mod", reason="", until=None, scope=None, shadow=True)
    likes = ReactionStore(store)
    # r2 liked the first comment already: liking it again counts nothing.
    assert (await likes.react("lk", "a", first.id, "r2", like=True)) is not None

    def ask(cid: str, who: str, like: bool = True, article: str = "a") -> LikeRequest:
        return LikeRequest("lk", article, cid, who, like)

    batch = await likes.react_many(
        [
            ask(first.id, "r1"),
            ask(first.id, "r2"),  # a repeat
            ask(first.id, "r3"),
            ask(first.id, "r3", like=False),  # r3 changes their mind: the last one counts
            ask(second.id, "r1"),
            ask(second.id, "r4", like=False),  # never liked it: nothing to drop
            ask(held.id, "r1"),  # not published
            ask(first.id, "r5", article="b"),  # not under this article
            LikeRequest("other", "a", first.id, "r6", True),  # nor this site
            ask("no\x00such", "r1"),
            ask(first.id, banned.id),
            ask(first.id, shadowed.id),
        ]
    )
    got = [None if a is None else (a.reactions, a.reacted, a.banned) for a in batch.answers]
    assert got == [
        (2, True, False),
        (2, True, False),
        (2, True, False),
        (2, False, False),
        (1, True, False),
        (1, False, False),
        None,
        None,
        None,
        None,
        (2, False, True),  # banned: refused, with the count the batch left
        (3, True, False),  # shadowed: answered as if it counted, nobody else sees it
    ]
    assert await stored_likes(store, first.id) == (2, 2)
    assert await stored_likes(store, second.id) == (1, 1)
    # One change per moved comment, both under one new version of their article.
    moved = {(c.comment_id, c.reactions) for c in batch.changed}
    assert moved == {(first.id, 2), (second.id, 1)}
    assert len({c.version for c in batch.changed}) == 1
    async with store.engine.connect() as conn:
        version = (await conn.execute(sa.select(reaction_versions.c.version))).scalar_one()
    assert batch.changed[0].version == version == 2  # the single like before, then this batch

    # A batch that moves nothing changes no version and sends nothing.
    again = await likes.react_many([ask(first.id, "r1"), ask(second.id, "r9", like=False)])
    assert again.changed == []
    assert [a.version if a else "none" for a in again.answers] == [None, None]


async def test_unlikes_in_a_batch_lower_the_count_to_the_rows_left(store: Store) -> None:
    assert await store.create_site("lk", {"guests": True})
    author, _ = await store.create_guest("lk", "Ana")
    made, _ = await store.create_comment(
        site="lk", article="a", author=author, body="one", parent=None, status=Status.PUBLISHED
    )
    likes = ReactionStore(store)
    readers = [f"reader-{i}" for i in range(30)]
    await likes.react_many([LikeRequest("lk", "a", made.id, r, True) for r in readers])
    assert await stored_likes(store, made.id) == (30, 30)
    batch = await likes.react_many(
        [LikeRequest("lk", "a", made.id, r, False) for r in readers[:20]]
        + [LikeRequest("lk", "a", made.id, "late", True)]
    )
    assert [c.reactions for c in batch.changed] == [11]
    assert await stored_likes(store, made.id) == (11, 11)


async def test_requests_that_queue_behind_a_write_share_the_next_batch() -> None:
    sizes: list[int] = []
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        if len(sizes) == 1:
            await gate.wait()  # the first write is slow: the others queue behind it
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write, max_batch=4)
    first = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(group.submit(i)) for i in range(1, 7)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50, 60]
    assert sizes == [1, 4, 2]  # a lone request went at once; the queue in batches of ≤ 4


async def test_a_failing_request_fails_alone() -> None:
    async def write(items: Sequence[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three is bad")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)
    answers = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
    assert answers[:3] == [0, 1, 2] and answers[4:] == [4, 5]
    assert isinstance(answers[3], ValueError)


async def test_a_cancelled_caller_does_not_undo_its_queued_like() -> None:
    written: list[int] = []
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        await gate.wait()
        written.extend(items)
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)
    caller = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0)
    caller.cancel()
    gate.set()
    assert await group.submit(2) == 2
    assert written == [1, 2]


async def test_a_database_outage_fails_the_whole_batch_at_once() -> None:
    # Written again one by one, each like would wait for the database once more.
    calls: list[int] = []
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        if len(calls) == 1:
            await gate.wait()
        raise StoreUnavailable("database away")

    group: GroupCommit[int, int] = GroupCommit(
        write, shared_errors=lambda exc: isinstance(exc, StoreUnavailable)
    )
    first = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(group.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    assert all(isinstance(a, StoreUnavailable) for a in answers), answers
    assert calls == [1, 5]


async def test_closing_writes_the_queued_likes_then_refuses_more() -> None:
    gate = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        await gate.wait()
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write, stopped=lambda: StoreUnavailable("bye"))
    queued = [asyncio.ensure_future(group.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(group.close())
    await asyncio.sleep(0)
    gate.set()
    await closing
    assert await asyncio.gather(*queued) == [0, 1, 2]
    with pytest.raises(StoreUnavailable):
        await group.submit(3)


async def test_a_write_cut_short_by_stopping_answers_with_an_error_not_a_cancellation() -> None:
    async def write(items: Sequence[int]) -> list[int]:
        await asyncio.Event().wait()  # never ends
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write, stopped=lambda: StoreUnavailable("bye"))
    queued = [asyncio.ensure_future(group.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    await group.close(timeout=0.05)
    answers = await asyncio.gather(*queued, return_exceptions=True)
    assert all(isinstance(a, StoreUnavailable) for a in answers), answers


@pytest.mark.parametrize("readers", [60])
async def test_concurrent_likes_all_count(store: Store, readers: int) -> None:
    """Many readers liking and unliking one comment at once through the group commit:
    the count equals the readers whose last word was a like."""
    assert await store.create_site("lk", {"guests": True})
    author, _ = await store.create_guest("lk", "Ana")
    made, _ = await store.create_comment(
        site="lk", article="a", author=author, body="one", parent=None, status=Status.PUBLISHED
    )
    likes = ReactionStore(store)
    group: GroupCommit[LikeRequest, object] = GroupCommit(
        lambda items: _answers(likes, items), max_batch=16
    )
    asks = [LikeRequest("lk", "a", made.id, f"r{i}", True) for i in range(readers)]
    asks += [LikeRequest("lk", "a", made.id, f"r{i}", False) for i in range(0, readers, 3)]
    await asyncio.gather(*(group.submit(a) for a in asks))
    left = readers - len(range(0, readers, 3))
    assert await stored_likes(store, made.id) == (left, left)
    assert group.batches < len(asks)


async def _answers(likes: ReactionStore, items: Sequence[LikeRequest]) -> list[object]:
    return list((await likes.react_many(items)).answers)


async def test_guests_are_found_by_their_token_in_the_batch(store: Store) -> None:
    assert await store.create_site("lk", {"guests": True})
    assert await store.create_site("other", {"guests": True})
    ana, ana_token = await store.create_guest("lk", "Ana")
    elsewhere, elsewhere_token = await store.create_guest("other", "Eve")
    made, _ = await store.create_comment(
        site="lk", article="a", author=ana, body="one", parent=None, status=Status.PUBLISHED
    )
    await ReviewStore(store).ban("lk", ana.id, by="mod", shadow=True)

    def as_guest(token: str) -> LikeRequest:
        return LikeRequest("lk", "a", made.id, "", True, guest_hash=hash_token(token))

    batch = await ReactionStore(store).react_many(
        [
            as_guest(ana_token),  # found (and shadow-banned: counts for nobody else)
            as_guest("no-such-token"),
            as_guest(elsewhere_token),  # a guest of another site is nobody here
            LikeRequest("lk", "a", made.id, "sso-reader", True),
        ]
    )
    got = [(a.reactions, a.reacted, a.unknown_reader) if a else None for a in batch.answers]
    # Ana sees the count the batch left, plus her own like (shadow-banned).
    assert got == [(2, True, False), (0, False, True), (0, False, True), (1, True, False)]
    assert await stored_likes(store, made.id) == (1, 1)
    assert elsewhere.id != ana.id
    # The identity is checked before the comment, even when no comment id can exist.
    alone = await ReactionStore(store).react_many(
        [LikeRequest("lk", "a", "no\x00such", "", True, guest_hash=hash_token("nobody"))]
    )
    assert alone.answers[0] is not None and alone.answers[0].unknown_reader


async def _lock_waiters(store: Store) -> int:
    async with store.engine.connect() as conn:
        found = await conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return int(found.scalar_one())


async def test_a_like_written_while_its_reader_is_banned_does_not_survive_the_ban(
    postgres_url: str,
) -> None:
    # The batch reads the reader's ban state, then writes; a ban that commits in between
    # must wait for the batch (or the batch for it), or its withdrawal misses the like.
    store = create_store(postgres_url)
    await store.migrate()
    try:
        await store.create_site("lk", {"guests": True})
        author, _ = await store.create_guest("lk", "Ana")
        reader, _ = await store.create_guest("lk", "Troll")
        made, _ = await store.create_comment(
            site="lk", article="a", author=author, body="one", parent=None, status=Status.PUBLISHED
        )
        likes = ReactionStore(store)
        # Another transaction holds the comment's row: the batch stops at its count update,
        # after reading the ban state and inserting the like.
        holder = await store.engine.connect()
        held = await holder.begin()
        await holder.execute(
            sa.select(comments.c.id).where(comments.c.id == made.id).with_for_update()
        )
        batch = asyncio.ensure_future(
            likes.react_many([LikeRequest("lk", "a", made.id, reader.id, True)])
        )

        async def waiters(at_least: int) -> bool:
            return await _lock_waiters(store) >= at_least

        await wait_until(lambda: waiters(1))

        async def ban_then_withdraw() -> None:  # as the moderation use case does
            await ReviewStore(store).ban("lk", reader.id, by="mod")
            await likes.withdraw("lk", reader.id)

        banning = asyncio.ensure_future(ban_then_withdraw())
        # Old code: the ban and its withdrawal finish here, before the like commits.
        await wait_until(lambda: banning.done() or waiters(2))
        await held.rollback()
        await holder.close()
        await asyncio.wait_for(batch, 30)
        await asyncio.wait_for(banning, 30)
        assert await stored_likes(store, made.id) == (0, 0)
    finally:
        await store.close()


async def test_erasing_a_reader_while_their_like_batch_runs_does_not_deadlock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch holds the reader's row (shared) and then touches their like rows; an
    # erasure that took their like rows first and the reader's row last would deadlock.
    store = create_store(postgres_url)
    await store.migrate()
    try:
        await store.create_site("lk", {"guests": True})
        reader = Author(id="lk:x", name="X")
        await store.upsert_sso_author("lk", reader)
        author, _ = await store.create_guest("lk", "Ana")
        made, _ = await store.create_comment(
            site="lk", article="a", author=author, body="one", parent=None, status=Status.PUBLISHED
        )
        likes = ReactionStore(store)
        await likes.react_many([LikeRequest("lk", "a", made.id, reader.id, True)])
        shared, scrubbed = asyncio.Event(), asyncio.Event()
        original = AsyncConnection.execute

        async def waiters(at_least: int) -> bool:
            return await _lock_waiters(store) >= at_least

        async def execute(self: AsyncConnection, statement: Any, *args: Any, **kw: Any) -> Any:
            task = asyncio.current_task()
            name = task.get_name() if task is not None else ""
            result = await original(self, statement, *args, **kw)
            selects_readers = isinstance(statement, sa.Select) and (
                authors in statement.get_final_froms()
            )
            if name == "like" and selects_readers:
                shared.set()  # the batch holds the reader's row now
                await wait_until(lambda: scrubbed.is_set() or waiters(1))
            updates_likes = isinstance(statement, sa.Update) and statement.table is reactions
            if name == "erase" and updates_likes:
                scrubbed.set()  # the erasure holds the like row: the unlike waits on it
                await wait_until(lambda: waiters(1))
            return result

        monkeypatch.setattr(AsyncConnection, "execute", execute)

        async def erase() -> object:
            await shared.wait()
            return await scrub(store, "lk", reader.id)

        unlike = asyncio.create_task(
            likes.react_many([LikeRequest("lk", "a", made.id, reader.id, False)]), name="like"
        )
        erasing = asyncio.create_task(erase(), name="erase")
        done = await asyncio.wait_for(asyncio.gather(unlike, erasing, return_exceptions=True), 30)
        assert not [d for d in done if isinstance(d, BaseException)], done
        assert await stored_likes(store, made.id) == (0, 0)
    finally:
        await store.close()
