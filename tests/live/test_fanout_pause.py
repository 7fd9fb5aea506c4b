"""Comments that come faster than their fan-outs are batched: after a long fan-out, one
that follows the one before it closely waits out a pause, and what arrives meanwhile
leaves with it as one frame (a write per socket per batch, not per comment)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from comments.infra.broker.memory import MemoryBroker
from comments.live.hub import Hub, Subscriber
from comments.models import Author, Status
from comments.store import EventRow, Store
from tests.conftest import OPEN_SITE, wait_until
from tests.live import events_of, seqs

SITE = "news"
ARTICLE = "2026/11/hot"


@pytest.fixture
async def author(store: Store) -> Author:
    await store.create_site(SITE, OPEN_SITE)
    guest, _ = await store.create_guest(SITE, "Ana")
    return guest


async def store_events(store: Store, author: Author, n: int) -> list[EventRow]:
    """Published comments, stored; the test hands their events to the hub itself."""
    rows = []
    for _ in range(n):
        _, row = await store.create_comment(
            site=SITE,
            article=ARTICLE,
            author=author,
            body="hi",
            parent=None,
            status=Status.PUBLISHED,
        )
        assert row is not None
        rows.append(row)
    return rows


def slow_socket(sub: Subscriber, frames: list[list[int]]) -> None:
    """A socket whose every send costs 20 ms of CPU: the fan-out that reaches it is long."""

    def send_now() -> None:
        while (text := sub.take()) is not None:
            frames.append(seqs(events_of(text)))
            busy_until = time.thread_time() + 0.02
            while time.thread_time() < busy_until:
                pass

    sub.listener = send_now


@pytest.fixture
async def hub_factory(store: Store) -> AsyncIterator[list[Hub]]:
    hubs: list[Hub] = []
    yield hubs
    for hub in hubs:
        await hub.stop()


# The fan-out of the first comment costs 20 ms of CPU; with a pause five times that (the
# most there is: 0.1 s), the next comments, a loop turn after it, come "faster than their
# fan-outs", even on a busy machine where 20 ms of CPU take longer.
@pytest.mark.parametrize("pause", [5.0, 0.0])
async def test_comments_closer_than_a_fanout_leave_together(
    store: Store, author: Author, hub_factory: list[Hub], pause: float
) -> None:
    broker = MemoryBroker()
    hub = Hub(store, broker, channel_prefix="pause", resync_interval_s=0, fanout_pause=pause)
    broker.set_handlers(hub.on_message, hub.on_resync)
    await hub.start()
    hub_factory.append(hub)
    sub = await hub.attach(SITE, ARTICLE, None)
    frames: list[list[int]] = []
    slow_socket(sub, frames)

    one, two, three = await store_events(store, author, 3)

    hub.publish(SITE, ARTICLE, one)
    await asyncio.sleep(0)  # the fan-out runs (20 ms of CPU) before this coroutine resumes
    assert frames == [[1]]
    # Two more, a loop turn apart: without a pause each leaves on its own turn.
    hub.publish(SITE, ARTICLE, two)
    await asyncio.sleep(0)
    hub.publish(SITE, ARTICLE, three)
    await wait_until(lambda: sum(len(f) for f in frames) == 3)
    if pause:
        assert frames == [[1], [2, 3]]
    else:
        assert frames == [[1], [2], [3]]
