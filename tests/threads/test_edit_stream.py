"""Edits in the stream without a server: a hub that still holds an edited comment's
earlier text in memory (queued for a socket, or in a replay read just before the edit)
sends it redacted, as for a removal. The store's half of edits, tombstones and context
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from comments.live.hub import Hub
from comments.models import Author, Status
from comments.store import Store
from comments.store.edits import EditStore
from comments.store.threads import ThreadStore
from tests.conftest import wait_until
from tests.live import events_of
from tests.live.test_hub import (
    ARTICLE,
    SITE,
    HeldReplays,
    HubFactory,
    RecordingBroker,
    events_until,
    message,
    one_loop_turn,
    redacted,
    write_events,
)


async def test_an_edit_drops_the_old_text_a_socket_still_has_queued(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub(gap_wait_s=30)
    sub = await hub.attach(SITE, ARTICLE, None)
    e1, e2 = await write_events(store, author, 2, body="the old text")
    name = hub.channel_name(SITE, ARTICLE)
    hub.broker.on_message(name, message(e1))
    hub.broker.on_message(name, message(e2))
    await wait_until(lambda: sub.frames)  # queued for the socket, not sent yet
    cid = events_of(e2.payload)[0]["comment"]["id"]
    current = await store.get_comment(cid)
    assert current is not None

    edited = await EditStore(store).apply(current, "the new text", Status.PUBLISHED, {})
    assert edited is not None and edited.event is not None
    hub.broker.on_message(name, message(edited.event))
    got = await events_until(sub, 3)
    assert got[:2] == [events_of(e1.payload)[0], redacted(2, cid)]
    assert got[2]["type"] == "comment.edited" and got[2]["seq"] == 3
    assert got[2]["comment"]["body"] == "the new text" and got[2]["comment"]["seq"] == 2
    assert "edited_at" in got[2]["comment"]

    # Stale: the same edit once more finds the comment changed and does nothing.
    assert await EditStore(store).apply(current, "again", Status.PUBLISHED, {}) is None


async def test_a_replay_read_before_an_edit_is_redacted_before_it_is_sent(
    store: Store, author: Author
) -> None:
    e1, e2 = await write_events(store, author, 2, body="before the edit")
    cid = events_of(e2.payload)[0]["comment"]["id"]
    held = HeldReplays(store)
    broker = RecordingBroker()
    hub = Hub(held, broker, channel_prefix="hubtest", resync_interval_s=0, gap_wait_s=30)  # type: ignore[arg-type]
    broker.set_handlers(hub.on_message, hub.on_resync)
    await hub.start()
    try:
        attaching = asyncio.create_task(hub.attach(SITE, ARTICLE, 0))
        await asyncio.wait_for(held.read.wait(), 10)
        current = await store.get_comment(cid)
        assert current is not None
        edited = await EditStore(store).apply(current, "after the edit", Status.PUBLISHED, {})
        assert edited is not None and edited.event is not None
        hub.broker.on_message(hub.channel_name(SITE, ARTICLE), message(edited.event))
        await one_loop_turn()
        held.release.set()
        sub = await attaching
        got = await events_until(sub, 3)
        assert got[:2] == [events_of(e1.payload)[0], redacted(2, cid)]
        assert got[2]["comment"]["body"] == "after the edit"
    finally:
        await hub.stop()


async def test_a_held_edit_withdraws_and_keeps_the_version(store: Store, author: Author) -> None:
    (row,) = await write_events(store, author, 1, body="first words")
    cid = events_of(row.payload)[0]["comment"]["id"]
    current = await store.get_comment(cid)
    assert current is not None
    edits = EditStore(store)
    held = await edits.apply(current, "second words", Status.HELD, {"reasons": '["x"]'})
    assert held is not None and held.event is not None
    assert events_of(held.event.payload) == [{"type": "comment.removed", "seq": 2, "id": cid}]
    now = await store.get_comment(cid)
    assert now is not None and now.status is Status.HELD and now.seq is None
    assert now.body == "second words" and now.edited_at is not None
    assert [v.body for v in await edits.versions(cid)] == ["first words"]
    replay = await store.events_since(SITE, ARTICLE, 0, limit=10)
    assert "first words" not in str(replay) and "second words" not in str(replay)


async def test_tombstones_follow_the_published_replies(store: Store, author: Author) -> None:
    threads = ThreadStore(store)
    top, _ = await store.create_comment(
        site=SITE,
        article=ARTICLE,
        author=author,
        body="top",
        parent=None,
        status=Status.PUBLISHED,
    )
    mid, _ = await store.create_comment(
        site=SITE,
        article=ARTICLE,
        author=author,
        body="mid",
        parent=top.id,
        status=Status.PUBLISHED,
    )
    leaf, _ = await store.create_comment(
        site=SITE,
        article=ARTICLE,
        author=author,
        body="leaf",
        parent=mid.id,
        status=Status.PUBLISHED,
    )
    for c in (top, mid):
        assert await store.transition(c.id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    page = await store.list_published(SITE, ARTICLE, newest_first=False, cursor=None, limit=10)
    assert [c.id for c in page.comments] == [leaf.id]
    found = await threads.tombstones(page.comments)
    assert [(t.id, t.parent, t.seq) for t in found] == [
        (mid.id, top.id, mid.seq),
        (top.id, None, top.seq),
    ]
    context = await threads.context(leaf, limit=5)
    assert context.before == [] and context.after == [] and context.before_cursor is None


def test_tombstones_go_before_their_answers_in_an_order_not_by_seq() -> None:
    from comments.web.permalinks import _before_answers

    shown = [{"id": "b", "parent": None}, {"id": "r2", "parent": "m"}, {"id": "r1", "parent": "t"}]
    tombs = [{"id": "m", "parent": "t"}, {"id": "t", "parent": None}]
    assert [j["id"] for j in _before_answers(shown, tombs)] == ["b", "t", "m", "r2", "r1"]
