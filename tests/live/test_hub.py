"""The hub without a server: ordering, gaps, duplicates, resync, unsubscribe, shared frames.

A real Store (SQLite and PostgreSQL) and the in-process broker; events are written to the
store directly, and broker messages are fed to the hub's handler by hand, so each case
controls exactly what the hub hears and when.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from comments.infra.broker.memory import MemoryBroker
from comments.live.hub import FRAME_MAX_CHARS, Hub, Subscriber
from comments.models import Author, Status
from comments.store import EventRow, Store
from tests.conftest import OPEN_SITE, wait_until
from tests.live import Event, events_of, seqs

SITE = "news"
ARTICLE = "2025/07/hub"


class RecordingBroker(MemoryBroker):
    """The in-process broker, remembering which channels are subscribed."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed: set[str] = set()

    async def subscribe(self, channel: str) -> None:
        self.subscribed.add(channel)
        await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.subscribed.discard(channel)
        await super().unsubscribe(channel)


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def author(store: Store) -> Author:
    await store.create_site(SITE, OPEN_SITE)
    guest, _ = await store.create_guest(SITE, "Ana")
    return guest


@pytest.fixture
async def make_hub(store: Store) -> AsyncIterator[HubFactory]:
    hubs: list[Hub] = []

    async def make(**options: Any) -> Hub:
        # No periodic sweep unless a test asks: each case names the path it exercises.
        options.setdefault("resync_interval_s", 0)
        broker = RecordingBroker()
        hub = Hub(store, broker, channel_prefix="hubtest", **options)
        broker.set_handlers(hub.on_message, hub.on_resync)
        await hub.start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.stop()


async def write_events(store: Store, author: Author, n: int, body: str = "") -> list[EventRow]:
    """``n`` published comments stored without telling any hub (as another node would)."""
    rows = []
    for _ in range(n):
        _, row = await store.create_comment(
            site=SITE,
            article=ARTICLE,
            author=author,
            body=body or f"comment {len(rows)}",
            parent=None,
            status=Status.PUBLISHED,
        )
        assert row is not None
        rows.append(row)
    return rows


def message(row: EventRow) -> bytes:
    """The broker message a node publishes for an event."""
    return b"%d\n" % row.seq + row.payload.encode()


def drain(sub: Subscriber) -> list[Event]:
    got: list[Event] = []
    while (text := sub.take()) is not None:
        got.extend(events_of(text))
    return got


async def next_events(sub: Subscriber, timeout: float = 5.0) -> list[Event]:
    """Wait until the socket has something to send, and take all of it."""
    await asyncio.wait_for(sub.wakeup.wait(), timeout)
    sub.wakeup.clear()
    return drain(sub)


async def events_until(sub: Subscriber, last: int, timeout: float = 5.0) -> list[Event]:
    got: list[Event] = []
    while not got or got[-1]["seq"] < last:
        got.extend(await next_events(sub, timeout))
    return got


async def one_loop_turn() -> None:
    """Let callbacks already scheduled with call_soon (the hub's flush) run."""
    await asyncio.sleep(0)


async def test_out_of_order_messages_are_delivered_in_order(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    # A long gap wait: only the messages themselves can close the gap in this test.
    hub = await make_hub(gap_wait_s=30)
    await write_events(store, author, 1)
    sub = await hub.attach(SITE, ARTICLE, None)
    assert drain(sub) == []
    e2, e3 = await write_events(store, author, 2)
    name = hub.channel_name(SITE, ARTICLE)

    hub.broker.on_message(name, message(e3))
    await one_loop_turn()
    assert drain(sub) == [], "seq 3 must wait for seq 2"

    hub.broker.on_message(name, message(e2))
    got = await next_events(sub)
    assert seqs(got) == [2, 3]
    assert [e["comment"]["seq"] for e in got] == [2, 3]


async def test_gap_never_filled_by_message_is_read_from_store(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub(gap_wait_s=0.05)
    sub = await hub.attach(SITE, ARTICLE, None)
    _e1, e2, e3 = await write_events(store, author, 3)
    name = hub.channel_name(SITE, ARTICLE)

    # Only seq 3's message arrives: 1 and 2 were lost on the way.
    hub.broker.on_message(name, message(e3))
    got = await events_until(sub, 3)
    assert seqs(got) == [1, 2, 3]
    assert got[1] == events_of(e2.payload)[0]


async def test_duplicates_are_dropped(store: Store, author: Author, make_hub: HubFactory) -> None:
    hub = await make_hub(gap_wait_s=30)
    sub = await hub.attach(SITE, ARTICLE, None)
    e1, e2, e3 = await write_events(store, author, 3)
    name = hub.channel_name(SITE, ARTICLE)

    hub.broker.on_message(name, message(e1))
    hub.broker.on_message(name, message(e1))
    hub.broker.on_message(name, message(e2))
    assert seqs(await next_events(sub)) == [1, 2]

    hub.broker.on_message(name, message(e2))
    hub.broker.on_message(name, message(e1))
    # This node's own publish, then its echo through the broker: delivered once.
    hub.publish(SITE, ARTICLE, e3)
    assert seqs(await next_events(sub)) == [3]
    hub.broker.on_message(name, message(e3))
    await one_loop_turn()
    await one_loop_turn()
    assert drain(sub) == []


async def test_resync_reads_what_the_broker_missed(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub(gap_wait_s=30)
    await write_events(store, author, 1)
    sub = await hub.attach(SITE, ARTICLE, 1)
    # Written while the broker was away: no message ever arrives for these.
    missed = await write_events(store, author, 4)

    hub.broker.on_resync()
    got = await events_until(sub, 5)
    assert seqs(got) == [2, 3, 4, 5]
    assert got == [events_of(r.payload)[0] for r in missed]


async def test_sweep_finds_events_without_any_message(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub(gap_wait_s=30, resync_interval_s=0.1)
    sub = await hub.attach(SITE, ARTICLE, None)
    await write_events(store, author, 2)
    assert seqs(await events_until(sub, 2)) == [1, 2]


async def test_detaching_the_last_socket_unsubscribes(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub()
    broker = hub.broker
    assert isinstance(broker, RecordingBroker)
    name = hub.channel_name(SITE, ARTICLE)
    first = await hub.attach(SITE, ARTICLE, None)
    second = await hub.attach(SITE, ARTICLE, None)
    assert name in broker.subscribed and hub.sockets == 2

    hub.detach(first)
    await one_loop_turn()
    assert name in broker.subscribed, "another socket still watches the article"
    assert hub.sockets == 1

    hub.detach(second)
    await wait_until(lambda: name not in broker.subscribed, timeout=5)
    assert hub.channels == {} and hub.sockets == 0

    # A socket that comes back opens the channel again.
    again = await hub.attach(SITE, ARTICLE, None)
    assert name in broker.subscribed
    (row,) = await write_events(store, author, 1)
    hub.publish(SITE, ARTICLE, row)
    assert seqs(await next_events(again)) == [1]


async def test_one_frame_text_is_shared_by_all_sockets(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub()
    one = await hub.attach(SITE, ARTICLE, None)
    two = await hub.attach(SITE, ARTICLE, None)
    e1, e2, e3 = await write_events(store, author, 3)

    hub.publish(SITE, ARTICLE, e1)
    await asyncio.wait_for(two.wakeup.wait(), 5)
    text_one, text_two = one.take(), two.take()
    assert text_one is not None and text_one is text_two  # encoded once for the channel
    assert seqs(events_of(text_one)) == [1]

    # Two events in one loop turn: one batch frame, also shared.
    hub.publish(SITE, ARTICLE, e2)
    hub.publish(SITE, ARTICLE, e3)
    await asyncio.wait_for(two.wakeup.wait(), 5)
    batch_one, batch_two = one.take(), two.take()
    assert batch_one is not None and batch_one is batch_two
    assert seqs(events_of(batch_one)) == [2, 3]


async def test_since_ahead_of_this_node_replays_from_store_not_reset(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    # A client moving from another node knows events this node has not heard of yet
    # (its broker message is late): that is no reason to make it reload the thread.
    hub = await make_hub(gap_wait_s=30)
    await write_events(store, author, 1)
    watcher = await hub.attach(SITE, ARTICLE, None)  # keeps the channel at seq 1
    await write_events(store, author, 3)  # seqs 2..4, no message yet

    mover = await hub.attach(SITE, ARTICLE, 2)
    got = await events_until(mover, 4)
    assert seqs(got) == [3, 4]
    # The node catches up for everyone, in order.
    assert seqs(await events_until(watcher, 4)) == [2, 3, 4]


async def test_since_beyond_the_article_is_reset_to_latest(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub()
    await write_events(store, author, 3)
    sub = await hub.attach(SITE, ARTICLE, 7)
    assert await next_events(sub) == [{"type": "reset", "seq": 3}]


async def test_replay_does_not_count_against_the_queue_limit(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    # A client reconnecting further behind than the per-socket queue gets its replay
    # (bounded by the reset threshold) instead of being closed again and again.
    hub = await make_hub(queue_limit=5)
    await write_events(store, author, 20)
    sub = await hub.attach(SITE, ARTICLE, 0)
    assert sub.close_code is None
    assert seqs(await events_until(sub, 20)) == list(range(1, 21))

    # Live events that pile up past the limit still close it.
    for row in await write_events(store, author, 6):
        hub.publish(SITE, ARTICLE, row)
        await one_loop_turn()
    await wait_until(lambda: sub.close_code == 1013, timeout=5)
    assert sub.take() is None


async def test_slow_socket_is_dropped_and_others_get_everything(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub(queue_limit=3)
    slow = await hub.attach(SITE, ARTICLE, None)
    fast = await hub.attach(SITE, ARTICLE, None)
    got: list[Event] = []
    for row in await write_events(store, author, 6):
        hub.publish(SITE, ARTICLE, row)
        got.extend(await next_events(fast))  # the fast one reads each at once
    assert seqs(got) == [1, 2, 3, 4, 5, 6]
    assert slow.close_code == 1013
    assert slow.take() is None


async def test_long_backlog_leaves_in_bounded_frames(
    store: Store, author: Author, make_hub: HubFactory
) -> None:
    hub = await make_hub()
    await write_events(store, author, 80, body="x" * 4000)  # about 330,000 characters
    sub = await hub.attach(SITE, ARTICLE, 0)
    texts = []
    while (text := sub.take()) is not None:
        texts.append(text)
    assert len(texts) > 1
    # Each frame stays under the cap (plus the batch envelope) and all are in order.
    assert all(len(t) <= FRAME_MAX_CHARS + 64 for t in texts)
    assert [s for t in texts for s in seqs(events_of(t))] == list(range(1, 81))


# -- removed comments (issue 13: removed means removed) -----------------------------------


def redacted(seq: int, comment_id: str) -> Event:
    return {"type": "comment.redacted", "seq": seq, "id": comment_id}


@pytest.mark.parametrize("heard", ["broker", "store"])
async def test_a_removal_drops_the_text_a_socket_still_has_queued(
    store: Store, author: Author, make_hub: HubFactory, heard: str
) -> None:
    """What a node holds in memory for a socket loses a removed comment's text when the
    removal reaches the node: by broker message, or read from the store by a resync when
    the message was lost."""
    hub = await make_hub(gap_wait_s=30)
    sub = await hub.attach(SITE, ARTICLE, None)
    e1, e2 = await write_events(store, author, 2)
    name = hub.channel_name(SITE, ARTICLE)
    hub.broker.on_message(name, message(e1))
    hub.broker.on_message(name, message(e2))
    await wait_until(lambda: sub.frames)  # queued for the socket, not sent yet
    gone = events_of(e2.payload)[0]["comment"]["id"]

    change = await store.transition(gone, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    assert change is not None and change.event is not None
    if heard == "broker":
        hub.broker.on_message(name, message(change.event))
    else:
        hub.broker.on_resync()
        await wait_until(lambda: hub.channels[name].last_seq == 3)
    got = await events_until(sub, 3)
    assert got == [
        events_of(e1.payload)[0],
        redacted(2, gone),
        {"type": "comment.removed", "seq": 3, "id": gone},
    ]


class HeldReplays:
    """The store, but a replay's rows (read at once) are handed over only when let go."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def events_since(self, *args: Any, **kwargs: Any) -> list[EventRow]:
        rows: list[EventRow] = await self.store.events_since(*args, **kwargs)
        if kwargs.get("until") is not None:  # a socket's replay (gap fills have no bound)
            self.read.set()
            await asyncio.wait_for(self.release.wait(), 10)
        return rows


async def test_a_replay_read_before_a_removal_is_redacted_before_it_is_sent(
    store: Store, author: Author
) -> None:
    """A socket's replay rows were read just before the comment was removed; the removal
    arrives while the replay is being prepared: the replay goes out redacted."""
    e1, e2 = await write_events(store, author, 2)
    gone = events_of(e2.payload)[0]["comment"]["id"]
    held = HeldReplays(store)
    broker = RecordingBroker()
    hub = Hub(held, broker, channel_prefix="hubtest", resync_interval_s=0, gap_wait_s=30)  # type: ignore[arg-type]
    broker.set_handlers(hub.on_message, hub.on_resync)
    await hub.start()
    try:
        attaching = asyncio.create_task(hub.attach(SITE, ARTICLE, 0))
        await asyncio.wait_for(held.read.wait(), 10)
        change = await store.transition(gone, Status.DELETED, allowed_from=[Status.PUBLISHED])
        assert change is not None and change.event is not None
        hub.broker.on_message(hub.channel_name(SITE, ARTICLE), message(change.event))
        await one_loop_turn()
        held.release.set()
        sub = await attaching
        got = await events_until(sub, 3)
        assert got == [
            events_of(e1.payload)[0],
            redacted(2, gone),
            {"type": "comment.removed", "seq": 3, "id": gone},
        ]
    finally:
        await hub.stop()
