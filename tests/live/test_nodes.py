"""Several nodes behind one article: concurrent writers, a Redis restart, a client that
moves between nodes. Real `comments serve` processes on one PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from comments.settings import Settings
from tests.conftest import (
    REDIS_URL,
    Node,
    PrivateRedis,
    RunningServer,
    add_site,
    api_client,
    wait_until,
)
from tests.live import Event, collect_until, post, recv_events, seqs, socket_url

StartNode = Callable[[dict[str, str]], Node]
ARTICLE = "2025/07/lavrov-kim"


def node_env(database_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_REDIS_URL": redis_url,
        "COMMENTS_CHANNEL_PREFIX": prefix,
        "COMMENTS_RESYNC_INTERVAL_S": "1",
        "COMMENTS_CLASSIFIER": "profanity-check",
    }


async def two_nodes(start_node: StartNode, env: dict[str, str]) -> tuple[Node, Node]:
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, env), asyncio.to_thread(start_node, env)
    )
    return a, b


def client(node: Node) -> httpx.AsyncClient:
    return api_client(node.url)


async def connect(node: Node, since: int | None = None) -> ClientConnection:
    return await websockets.connect(socket_url(node.ws_url, "news", ARTICLE, since))


async def test_concurrent_posts_on_two_nodes_arrive_once_in_order(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url)
    a, b = await two_nodes(start_node, node_env(postgres_url, REDIS_URL, channel_prefix))
    on_b, on_a = await connect(b), await connect(a)
    posted: dict[int, dict[str, Any]] = {}

    async def burst(node: Node, tag: str) -> None:
        async with client(node) as http:
            for i in range(40):
                comment = (await post(http, ARTICLE, f"{tag} says {i}"))["comment"]
                posted[comment["seq"]] = comment

    bursts = asyncio.gather(burst(a, "A"), burst(b, "B"))
    # A third page opens on B mid-way and asks for everything from the start.
    await wait_until(lambda: len(posted) >= 30, timeout=30)
    late = await connect(b, since=0)
    await asyncio.wait_for(bursts, 60)
    assert sorted(posted) == list(range(1, 81))

    for name, ws in (("socket on B", on_b), ("socket on A", on_a), ("late socket on B", late)):
        got = await collect_until(ws, 80, timeout=30)
        assert seqs(got) == list(range(1, 81)), name
        assert [e["comment"] for e in got] == [posted[s] for s in range(1, 81)], name
        await ws.close()


async def test_socket_catches_up_after_redis_restart(
    postgres_url: str, channel_prefix: str, start_node: StartNode, private_redis: PrivateRedis
) -> None:
    await add_site(postgres_url)
    a, b = await two_nodes(start_node, node_env(postgres_url, private_redis.url, channel_prefix))
    ws = await connect(b)
    mover = await connect(a)
    async with client(a) as on_a, client(b) as on_b:
        await post(on_a, ARTICLE, "before the outage")
        assert seqs(await recv_events(ws)) == [1], "A's post reaches B through Redis"

        private_redis.stop()
        # Posts still succeed: stored as published, broadcast when the broker allows.
        for i in range(8):
            await post(on_b, ARTICLE, f"B during the outage {i}")
            await post(on_a, ARTICLE, f"A during the outage {i}")
        ready = await on_b.get("/readyz")
        assert ready.status_code == 503 and ready.json()["broker"]["state"] == "failed"

        # A reader on A moves to B while B cannot have heard of A's last post (17)
        # through Redis: it must get what follows, not a reset.
        assert seqs(await collect_until(mover, 17)) == list(range(1, 18))
        await mover.close()
        moved = await connect(b, since=17)
        await post(on_b, ARTICLE, "B after the move")
        private_redis.start()

        assert seqs(await collect_until(ws, 18, timeout=30)) == list(range(2, 19))
        assert seqs(await collect_until(moved, 18, timeout=30)) == [18]

        # Live across nodes again once B's broker is back (its /readyz says so).
        async def b_ready() -> bool:
            return (await on_b.get("/readyz")).status_code == 200

        await wait_until(b_ready, timeout=30, interval=0.2)
        await post(on_a, ARTICLE, "after the outage")
        assert seqs(await collect_until(ws, 19)) == [19]
        assert seqs(await collect_until(moved, 19)) == [19]
    await ws.close()
    await moved.close()

    log = b.log.read_text(errors="replace")
    assert any("WARNING" in line and "lost its connection" in line for line in log.splitlines()), (
        log[-3000:]
    )


async def test_client_moving_to_the_other_node_misses_nothing(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url)
    a, b = await two_nodes(start_node, node_env(postgres_url, REDIS_URL, channel_prefix))
    # B already watches the article, so its channel may trail A when the client arrives.
    watcher = await connect(b)
    first = await connect(a)
    total = 60

    async def poster() -> None:
        async with client(a) as on_a, client(b) as on_b:
            for i in range(total):
                await post(on_a if i % 3 else on_b, ARTICLE, f"comment {i}")

    posting = asyncio.create_task(poster())
    before: list[Event] = await collect_until(first, 20)
    await first.close()
    last = before[-1]["seq"]
    moved = await connect(b, since=last)
    after = await collect_until(moved, total, timeout=30)
    await asyncio.wait_for(posting, 60)

    assert seqs(before) == list(range(1, last + 1))
    assert seqs(after) == list(range(last + 1, total + 1)), "no reset, no gap, no repeat"
    assert seqs(await collect_until(watcher, total)) == list(range(1, total + 1))
    await moved.close()
    await watcher.close()


async def test_site_named_like_the_moderation_feed_still_crosses_nodes(
    postgres_url: str, channel_prefix: str, start_server: Callable[..., Any]
) -> None:
    # A site may be called "mod": its article channels must not be taken for the
    # moderation feed's. No periodic sweep here, so only the broker can deliver.
    await add_site(postgres_url, slug="mod")
    settings = Settings(
        database_url=postgres_url,
        broker_url=REDIS_URL,
        channel_prefix=channel_prefix,
        resync_interval_s=0,
    )
    a: RunningServer = await start_server(settings)
    b: RunningServer = await start_server(settings)
    async with websockets.connect(socket_url(b.ws_url, "mod", "news")) as ws:
        await wait_until(lambda: b.node.broker.healthy and a.node.broker.healthy)
        async with a.client() as http:
            comment = (await post(http, "news", "hello from A", site="mod"))["comment"]
        assert await recv_events(ws) == [
            {"type": "comment.published", "seq": 1, "comment": comment}
        ]
