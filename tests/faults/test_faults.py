"""Faults with real processes: a node killed mid-stream, the database going away.

Nodes are `comments serve` processes on PostgreSQL and Redis; clients reconnect the way
the widget does (to another node, with `since`) and every seq is counted on every client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import REDIS_URL, Node, add_site, wait_until
from tests.faults.readers import Reader
from tests.live import post
from tests.tcp_proxy import TcpProxy

StartNode = Callable[[dict[str, str]], Node]
ARTICLE = "2025/07/lavrov-kim"


def node_env(database_url: str, prefix: str) -> dict[str, str]:
    return {
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_REDIS_URL": REDIS_URL,
        "COMMENTS_CHANNEL_PREFIX": prefix,
        "COMMENTS_RESYNC_INTERVAL_S": "1",
        "COMMENTS_CLASSIFIER": "profanity-check",
    }


async def test_a_node_killed_mid_stream_loses_no_event_for_its_clients(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url)
    env = node_env(postgres_url, channel_prefix)
    nodes = list(await asyncio.gather(*(asyncio.to_thread(start_node, env) for _ in range(3))))
    doomed, b, c = nodes
    readers = [Reader(nodes, 0, ARTICLE) for _ in range(4)] + [
        Reader(nodes, 1, ARTICLE) for _ in range(2)
    ]
    for reader in readers:
        await asyncio.wait_for(reader.connected.wait(), 10)
    total = 60
    try:
        async with (
            httpx.AsyncClient(base_url=b.url, timeout=10) as on_b,
            httpx.AsyncClient(base_url=c.url, timeout=10) as on_c,
        ):
            for i in range(total):
                await post(on_b if i % 2 else on_c, ARTICLE, f"comment {i}", name=f"R{i % 7}")
                if i == total // 3:
                    doomed.proc.kill()  # SIGKILL: no drain, no close frames
                    doomed.proc.wait(10)
        for reader in readers:
            await wait_until(lambda r=reader: len(r.seqs) >= total, timeout=30)
        for reader in readers[:4]:
            assert reader.reconnects >= 1, "the readers on the killed node had to move"
        for reader in readers:
            assert reader.seqs == list(range(1, total + 1))
    finally:
        for reader in readers:
            await reader.stop()


async def _count(url: str, table: str) -> int:
    parts = urlsplit(url.replace("postgresql+asyncpg", "postgresql"))
    conn = await asyncpg.connect(urlunsplit(parts))
    try:
        count: Any = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return int(count)
    finally:
        await conn.close()


async def test_database_away_posts_get_503_and_the_node_recovers_by_itself(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url)
    real = urlsplit(postgres_url)
    proxy = TcpProxy(real.port or 5432)
    await proxy.start()
    via_proxy = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{proxy.port}"))
    node = await asyncio.to_thread(start_node, node_env(via_proxy, channel_prefix))
    try:
        async with httpx.AsyncClient(base_url=node.url, timeout=15) as http:
            before = await post(http, ARTICLE, "before the outage")
            comments_before = await _count(postgres_url, "comments")
            authors_before = await _count(postgres_url, "authors")

            await proxy.stop()
            r = await http.post(
                f"/api/v1/sites/news/articles/{ARTICLE}/comments",
                json={"body": "during the outage", "author_name": "Bo"},
            )
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "unavailable"
            assert int(r.headers["Retry-After"]) > 0
            # A like is answered the same way (its batch fails as one, not like by like).
            liked = await http.put(
                f"/api/v1/sites/news/articles/{ARTICLE}/comments/{before['comment']['id']}/reaction",
                json={},
                headers={"X-Comments-Guest": before["guest_token"]},
            )
            assert liked.status_code == 503, liked.text
            assert liked.json()["error"]["code"] == "unavailable"
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["database"]["state"] == "failed"
            assert (await http.get("/healthz")).status_code == 200
            # A reader of a site this node has not read yet gets docs/api.md's 503 too.
            with pytest.raises(InvalidStatus) as denied:
                await websockets.connect(f"{node.ws_url}/ws/v1/sites/elsewhere/articles/a")
            assert denied.value.response.status_code == 503
            assert json.loads(denied.value.response.body)["error"]["code"] == "unavailable"
            # Nothing half-written: no comment, no guest created for the refused post.
            assert await _count(postgres_url, "comments") == comments_before
            assert await _count(postgres_url, "authors") == authors_before

            await proxy.start()

            async def posts_again() -> bool:
                r = await http.post(
                    f"/api/v1/sites/news/articles/{ARTICLE}/comments",
                    json={"body": "after the outage", "author_name": "Bo"},
                )
                return r.status_code == 201

            await wait_until(posts_again, timeout=30, interval=0.2)
            assert (await http.get("/readyz")).status_code == 200
            listed = await http.get(f"/api/v1/sites/news/articles/{ARTICLE}/comments")
            assert [c["body"] for c in listed.json()["comments"]] == [
                "before the outage",
                "after the outage",
            ]
    finally:
        node.stop()
        if proxy.server is not None:
            await proxy.stop()
