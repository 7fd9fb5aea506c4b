"""Webhooks end to end, on SQLite and PostgreSQL: the outbox is written with the change
(only for subscribed sites and events), and a receiver started here sees every event at
least once, in order per article, signed, across an outage and a node restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from comments.integrations.delivery import Deliverer, DeliveryPolicy
from comments.models import Author, Comment, Status
from comments.settings import Settings
from comments.store import Store, create_store
from comments.store.hook_tables import outbox
from comments.store.outbox import EVENTS
from comments.store.review import ReviewStore
from comments.store.webhooks import WebhookStore
from tests.conftest import OPEN_SITE, add_site, api_client, wait_until
from tests.integrations.receiver import Receiver

# Seconds where production has minutes: the same code path (docs/operations.md).
FAST = DeliveryPolicy(
    allow_private=True, backoff_base_s=0.05, backoff_max_s=0.4, poll_s=0.02, lease_s=1.0
)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def publish(store: Store, author: Author, article: str, body: str, **kw: Any) -> Comment:
    comment, _ = await store.create_comment(
        site="news",
        article=article,
        author=author,
        body=body,
        parent=None,
        status=kw.pop("status", Status.PUBLISHED),
        **kw,
    )
    return comment


async def rows(store: Store) -> list[Any]:
    async with store.engine.connect() as conn:
        return list(await conn.execute(sa.select(outbox).order_by(outbox.c.id)))


@contextlib.asynccontextmanager
async def delivering(store: Store, policy: DeliveryPolicy = FAST) -> AsyncIterator[Deliverer]:
    deliverer = Deliverer(WebhookStore(store), policy)
    task = asyncio.create_task(deliverer.run_forever())
    try:
        yield deliverer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await deliverer.close()


async def test_only_subscribed_sites_and_events_are_written(store: Store) -> None:
    await store.create_site("news", {})
    await store.create_site("other", {})
    author, _ = await store.create_guest("news", "Ana")
    await publish(store, author, "a", "before any webhook")
    assert await rows(store) == []
    await WebhookStore(store).add("news", "https://hooks.example/in", ["comment.published"])
    await publish(store, author, "a", "published")
    await publish(store, author, "a", "held", status=Status.HELD)
    other, _ = await store.create_guest("other", "Bo")
    await store.create_comment(
        site="other", article="a", author=other, body="x", parent=None, status=Status.PUBLISHED
    )
    assert [(r.site, r.event) for r in await rows(store)] == [("news", "comment.published")]


async def test_every_change_writes_its_event_in_its_transaction(store: Store) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    hooks = WebhookStore(store)
    await hooks.add("news", "https://hooks.example/in", [])
    first = await publish(store, author, "a", "first")
    held = await publish(store, author, "b", "held", status=Status.HELD)
    await store.transition(held.id, Status.PUBLISHED, allowed_from=[Status.HELD])
    await store.transition(first.id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    review = ReviewStore(store)
    await review.add_report(held.id, "reader-1", "spam")
    await review.ban("news", author.id, by="mod", reason="spam")
    found = [(r.event, r.order_key) for r in await rows(store)]
    assert found == [
        ("comment.published", "a"),
        ("comment.held", "b"),
        ("comment.published", "b"),
        ("comment.removed", "a"),
        ("comment.rejected", "a"),
        ("report.created", "b"),
        ("author.banned", f"author:{author.id}"),
    ]
    assert {e for e, _ in found} == set(EVENTS) - {"comment.edited"}
    # A rolled-back change leaves no message: a reply to a missing parent fails.
    with pytest.raises(Exception, match="nope"):
        await store.create_comment(
            site="news",
            article="a",
            author=author,
            body="x",
            parent="nope",
            status=Status.PUBLISHED,
        )
    assert len(await rows(store)) == len(found)


async def test_every_event_arrives_in_order_across_an_outage_and_a_restart(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    hook = await WebhookStore(store).add("news", receiver.url, [])
    receiver.down = True  # the outage: 503 to everything
    articles = ["a", "b", "c"]
    made = []
    for i in range(4):
        for article in articles:
            made.append(await publish(store, author, article, f"{article}{i}"))
    await store.transition(made[0].id, Status.REJECTED, allowed_from=[Status.PUBLISHED])
    async with delivering(store):
        # Retries pile up while the receiver is down (each article's head only).
        await wait_until(lambda: len(receiver.seen) >= 9, timeout=20)
        assert {r.message["data"]["comment"]["article"] for r in receiver.seen} == set(articles)
    # The node died (its leases run out); another starts on the same database.
    restarted = create_store(database_url)
    try:
        for article in articles:
            await publish(restarted, author, article, f"{article} after the restart")
        receiver.down = False
        async with delivering(restarted):
            expected = await rows(restarted)

            async def all_delivered() -> bool:
                return all(r.status == "delivered" for r in await rows(restarted))

            await wait_until(all_delivered, timeout=30)
    finally:
        await restarted.close()
    accepted = receiver.accepted
    assert {r.headers["webhook-id"] for r in accepted} == {r.msg_id for r in expected}
    assert all(r.verifies(hook.secret) for r in receiver.seen)
    for article in articles:
        sent = [r.msg_id for r in expected if r.order_key == article]
        got: list[str] = []
        for r in accepted:
            here = r.message["data"]["comment"]["article"] == article
            if here and r.headers["webhook-id"] not in got:
                got.append(r.headers["webhook-id"])
        assert got == sent
    log = await WebhookStore(store).log(hook.id)
    assert all(entry["status"] == "delivered" for entry in log)
    assert max(entry["attempts"] for entry in log) >= 2


async def test_two_nodes_share_the_work_without_sending_twice(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    await WebhookStore(store).add("news", receiver.url, ["comment.published"])
    for i in range(30):
        await publish(store, author, f"a{i % 6}", f"c{i}")
    other = create_store(database_url)
    try:
        # Leases longer than any delivery here: a second send would be a bug, not load.
        shared = replace(FAST, lease_s=30.0)
        async with delivering(store, shared), delivering(other, shared):
            await wait_until(lambda: len(receiver.accepted) >= 30, timeout=30)
    finally:
        await other.close()
    ids = [r.headers["webhook-id"] for r in receiver.accepted]
    assert len(ids) == len(set(ids)) == 30


async def test_a_message_past_the_retry_window_fails_and_its_article_moves_on(
    store: Store, receiver: Receiver
) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    hook = await WebhookStore(store).add("news", receiver.url, ["comment.published"])
    receiver.down = True
    await publish(store, author, "a", "lost")
    policy = replace(FAST, give_up_after_s=0.5)
    async with delivering(store, policy):

        async def first_failed() -> bool:
            return (await rows(store))[0].status == "failed"

        await wait_until(first_failed, timeout=20)
        receiver.down = False
        await publish(store, author, "a", "next")

        async def second_delivered() -> bool:
            return (await rows(store))[-1].status == "delivered"

        await wait_until(second_delivered, timeout=20)
    failed = (await WebhookStore(store).log(hook.id))[-1]
    assert failed["status"] == "failed"
    assert failed["attempts"] >= 2
    assert failed["last_status"] == 503
    assert failed["last_error"] == "HTTP 503"


async def test_a_private_destination_is_refused_at_delivery_time(
    store: Store, receiver: Receiver
) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    hook = await WebhookStore(store).add("news", receiver.url, ["comment.published"])
    await publish(store, author, "a", "to 127.0.0.1")
    deliverer = Deliverer(WebhookStore(store), replace(FAST, allow_private=False))
    try:
        assert await deliverer.run_once() == 1
    finally:
        await deliverer.close()
    assert receiver.seen == []
    (entry,) = await WebhookStore(store).log(hook.id)
    assert entry["status"] == "pending"
    assert "non-public" in entry["last_error"]


@pytest.mark.parametrize("host", ["64:ff9b::7f00:1", "2002:7f00:1::1"])
async def test_an_ipv6_way_to_loopback_is_refused_at_delivery_time(
    store: Store, receiver: Receiver, host: str
) -> None:
    """NAT64 and 6to4 addresses that carry 127.0.0.1 (a name re-pointed after the webhook
    was added gives the same): the deliverer refuses before connecting."""
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    url = f"http://[{host}]:{receiver.port}/hook"
    hook = await WebhookStore(store).add("news", url, ["comment.published"])
    await publish(store, author, "a", "to loopback through IPv6")
    deliverer = Deliverer(WebhookStore(store), replace(FAST, allow_private=False))
    try:
        assert await deliverer.run_once() == 1
    finally:
        await deliverer.close()
    assert receiver.seen == []
    (entry,) = await WebhookStore(store).log(hook.id)
    assert entry["status"] == "pending"
    assert "non-public" in entry["last_error"] and "IPv4 127.0.0.1" in entry["last_error"]


async def test_a_stored_url_with_a_bad_port_fails_its_attempt_not_the_pass(
    store: Store, receiver: Receiver
) -> None:
    """A hook added before ports were checked: its message's attempt fails with a reason
    in the log, and the next message still goes."""
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    bad = await WebhookStore(store).add(
        "news", "http://127.0.0.1:99999/hook", ["comment.published"]
    )
    good = await WebhookStore(store).add("news", receiver.url, ["comment.published"])
    await publish(store, author, "a", "one port too far")
    deliverer = Deliverer(WebhookStore(store), FAST)
    try:
        assert await deliverer.run_once() == 2
    finally:
        await deliverer.close()
    (entry,) = await WebhookStore(store).log(bad.id)
    assert entry["status"] == "pending" and "Port out of range" in entry["last_error"]
    (sent,) = await WebhookStore(store).log(good.id)
    assert sent["status"] == "delivered" and len(receiver.accepted) == 1


async def test_rotation_keeps_the_old_secret_valid(store: Store, receiver: Receiver) -> None:
    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    hooks = WebhookStore(store)
    old = await hooks.add("news", receiver.url, ["comment.published"])
    new = await hooks.rotate("news", receiver.url, timedelta(hours=1))
    assert new is not None and new.secret != old.secret
    await publish(store, author, "a", "signed twice")
    async with delivering(store):
        await wait_until(lambda: receiver.accepted, timeout=20)
    (got,) = receiver.accepted
    assert got.verifies(old.secret) and got.verifies(new.secret)
    assert len(got.headers["webhook-signature"].split(" ")) == 2


async def test_a_node_delivers_what_its_api_publishes(
    database_url: str, start_server: Any, receiver: Receiver, channel_prefix: str
) -> None:
    await add_site(database_url, "news", **OPEN_SITE)
    setup = create_store(database_url)
    try:
        hook = await WebhookStore(setup).add("news", receiver.url, ["comment.published"])
    finally:
        await setup.close()
    settings = Settings(
        database_url=database_url,
        broker_url="memory://",
        channel_prefix=channel_prefix,
        webhook_allow_private=True,
        webhook_backoff_s=0.05,
    )
    server = await start_server(settings)
    async with api_client(server.url) as http:
        r = await http.post(
            "/api/v1/sites/news/articles/a1/comments", json={"body": "hello", "author_name": "Ana"}
        )
        assert r.status_code == 201, r.text
    await wait_until(lambda: receiver.accepted, timeout=20)
    (got,) = receiver.accepted
    assert got.message["type"] == "comment.published"
    assert got.message["data"]["comment"]["body"] == "hello"
    assert got.verifies(hook.secret)


async def test_an_edit_writes_comment_edited(store: Store) -> None:
    from comments.store.edits import EditStore

    await store.create_site("news", {})
    author, _ = await store.create_guest("news", "Ana")
    await WebhookStore(store).add("news", "https://hooks.example/in", [])
    first = await publish(store, author, "a", "first")
    edits = EditStore(store)
    assert await edits.apply(first, "first, edited", Status.PUBLISHED, {}) is not None
    latest = await store.get_comment(first.id)
    assert latest is not None
    assert await edits.apply(latest, "now held", Status.HELD, {}) is not None
    found = [(r.event, r.order_key) for r in await rows(store)]
    assert found == [
        ("comment.published", "a"),
        ("comment.edited", "a"),
        ("comment.removed", "a"),
        ("comment.held", "a"),
    ]
    edited = (await rows(store))[1]
    assert '"first, edited"' in edited.payload
