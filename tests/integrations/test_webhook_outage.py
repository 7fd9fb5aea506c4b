"""Webhooks across a receiver outage of a minute and a node restart, with real
`comments serve` processes on PostgreSQL: every event arrives once or more, in order per
article, each with a valid signature (docs/api.md, "Webhooks")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from comments.store import create_store
from comments.store.webhooks import WebhookStore
from tests.conftest import Node, add_site, wait_until
from tests.integrations.receiver import Receiver
from tests.live import post

OUTAGE_S = 60
ARTICLES = ("2026/12/harbour", "2026/12/budget")


def published_seqs(receiver: Receiver, article: str) -> list[int]:
    return [
        r.message["data"]["comment"]["seq"]
        for r in receiver.accepted
        if r.message["type"] == "comment.published"
        and r.message["data"]["comment"]["article"] == article
    ]


async def test_every_event_arrives_in_order_across_an_outage_and_a_node_restart(
    postgres_url: str, start_node: Callable[[dict[str, str]], Node]
) -> None:
    await add_site(postgres_url)
    receiver = await Receiver().start()
    store = create_store(postgres_url)
    try:
        hook = await WebhookStore(store).add("news", receiver.url, ["comment.published"])
    finally:
        await store.close()
    env = {
        "COMMENTS_DATABASE_URL": postgres_url,
        "COMMENTS_CLASSIFIER": "profanity-check",
        "COMMENTS_WEBHOOK_ALLOW_PRIVATE": "1",
        "COMMENTS_WEBHOOK_BACKOFF_S": "0.5",
    }
    try:
        node = await asyncio.to_thread(start_node, env)
        async with httpx.AsyncClient(base_url=node.url, timeout=15) as http:
            for i in range(3):
                for article in ARTICLES:
                    await post(http, article, f"before the outage {i}")
        await wait_until(lambda: len(receiver.accepted) == 6, timeout=30)

        # The receiver goes down for a minute; meanwhile comments keep coming and the
        # node that wrote them is restarted.
        receiver.down = True
        outage_started = time.monotonic()
        async with httpx.AsyncClient(base_url=node.url, timeout=15) as http:
            for i in range(3):
                for article in ARTICLES:
                    await post(http, article, f"during the outage {i}")
        await wait_until(lambda: any(r.status == 503 for r in receiver.seen), timeout=30)
        await asyncio.to_thread(node.stop)
        node = await asyncio.to_thread(start_node, env)
        async with httpx.AsyncClient(base_url=node.url, timeout=15) as http:
            for article in ARTICLES:
                await post(http, article, "after the restart")
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
        receiver.down = False

        # Every publication arrives, in order per article, however often it was tried.
        await wait_until(
            lambda: all(set(published_seqs(receiver, a)) >= set(range(1, 8)) for a in ARTICLES),
            timeout=120,
        )
        for article in ARTICLES:
            seqs = published_seqs(receiver, article)
            first_seen = list(dict.fromkeys(seqs))
            assert first_seen == list(range(1, 8)), f"{article}: {seqs}"
        assert all(r.verifies(hook.secret) for r in receiver.seen)
        assert len({r.headers["webhook-id"] for r in receiver.accepted}) == 14
    finally:
        await receiver.stop()
