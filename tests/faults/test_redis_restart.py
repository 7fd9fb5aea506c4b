"""Redis killed and restarted under load: three `comments serve` nodes on one PostgreSQL
and a Redis of the test's own, readers spread over the nodes on two articles, posts going
to every node at a steady rate throughout. Posts keep answering 201 while Redis is away;
once it is back the nodes resubscribe and every reader has every seq exactly once.

The periodic resync sweep is off (COMMENTS_RESYNC_INTERVAL_S=0), and once Redis is back
each article's posts go to one node only: readers on the other two then get what was
posted during the outage and after it only through their node's broker reconnect
(resubscribe, read the gap from the store) and live pub/sub, the path under test, not
through the sweep or a gap their own node's posts would reveal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from tests.conftest import Node, PrivateRedis, add_site, wait_until
from tests.faults.readers import Reader
from tests.live import thread_url

StartNode = Callable[[dict[str, str]], Node]
ARTICLES = ("2025/07/lavrov-kim", "2025/07/heatwave")
# Per article: posts before the outage, during it, and after Redis is back.
BEFORE, DURING, AFTER = 15, 25, 15
POST_EVERY_S = 0.1  # per article: ~10 posts a second, spread over the three nodes
MAX_POSTS = 400  # per article, whatever happens: the loop is bounded


class Poster:
    """Posts to one article at a steady rate, node after node; every answer must be a
    201 with the comment's seq, Redis or no Redis."""

    def __init__(self, nodes: list[Node], article: str) -> None:
        self.article = article
        self.clients = [httpx.AsyncClient(base_url=n.url, timeout=15) for n in nodes]
        self.only: int | None = None  # post to this node only (index), else to each
        self.seqs: list[int] = []
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        for i in range(MAX_POSTS):
            if self.stopping.is_set():
                return
            http = self.clients[i % len(self.clients) if self.only is None else self.only]
            r = await http.post(
                thread_url("news", self.article),
                json={"body": f"comment {i} on {self.article}", "author_name": f"R{i % 7}"},
            )
            assert r.status_code == 201, f"post {i} to {http.base_url}: {r.status_code} {r.text}"
            self.seqs.append(int(r.json()["comment"]["seq"]))
            await asyncio.sleep(POST_EVERY_S)  # the steady rate, not synchronisation

    def reached(self, count: int) -> bool:
        if self.task.done():
            self.task.result()  # a failed post fails the test now, not at a timeout
            raise AssertionError(f"posting to {self.article} stopped at {len(self.seqs)}")
        return len(self.seqs) >= count

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, 30)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        for http in self.clients:
            await http.aclose()


async def broker_state(node: Node) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        r = await http.get("/readyz")
        return r.status_code, r.json()["broker"]["state"]


async def test_redis_restart_under_load_every_reader_on_three_nodes_misses_nothing(
    postgres_url: str, channel_prefix: str, start_node: StartNode, private_redis: PrivateRedis
) -> None:
    await add_site(postgres_url)
    env = {
        "COMMENTS_DATABASE_URL": postgres_url,
        "COMMENTS_REDIS_URL": private_redis.url,
        "COMMENTS_CHANNEL_PREFIX": channel_prefix,
        "COMMENTS_RESYNC_INTERVAL_S": "0",
        "COMMENTS_CLASSIFIER": "profanity-check",
    }
    nodes = list(await asyncio.gather(*(asyncio.to_thread(start_node, env) for _ in range(3))))
    # Two readers per node per article.
    readers = [Reader(nodes, i % 3, article) for article in ARTICLES for i in range(6)]
    for reader in readers:
        await asyncio.wait_for(reader.connected.wait(), 15)
    posters = [Poster(nodes, article) for article in ARTICLES]
    try:
        await wait_until(lambda: all(p.reached(BEFORE) for p in posters), timeout=60)
        await asyncio.to_thread(private_redis.stop)  # SIGKILL: no goodbye to anyone
        at_kill = [len(p.seqs) for p in posters]

        async def all_nodes_see(expected: tuple[int, str]) -> bool:
            states = await asyncio.gather(*(broker_state(n) for n in nodes))
            return all(s == expected for s in states)

        # Every node knows its broker is gone (so the posts that follow really are
        # posted during the outage), and keeps taking posts.
        await wait_until(lambda: all_nodes_see((503, "failed")), timeout=30, interval=0.2)
        await wait_until(
            lambda: all(p.reached(n + DURING) for p, n in zip(posters, at_kill, strict=True)),
            timeout=60,
        )

        await asyncio.to_thread(private_redis.start)  # same port, empty: a restart
        at_restart = [len(p.seqs) for p in posters]
        await wait_until(lambda: all_nodes_see((200, "ok")), timeout=60, interval=0.2)
        for home, poster in enumerate(posters):
            poster.only = home
        await wait_until(
            lambda: all(p.reached(n + AFTER) for p, n in zip(posters, at_restart, strict=True)),
            timeout=60,
        )
        for poster in posters:
            await poster.stop()

        totals = {p.article: len(p.seqs) for p in posters}
        for poster in posters:
            assert sorted(poster.seqs) == list(range(1, totals[poster.article] + 1))
        for reader in readers:
            await wait_until(lambda r=reader: r.has(totals[r.article]), timeout=60)
        for i, reader in enumerate(readers):
            expected = list(range(1, totals[reader.article] + 1))
            assert reader.seqs == expected, f"reader {i} on {reader.article}"
            assert reader.types == {"comment.published"}, f"reader {i}: {reader.types}"
        assert all(r.reconnects == 0 for r in readers), "a Redis outage closes no socket"
    finally:
        for reader in readers:
            await reader.stop()
        for poster in posters:
            await poster.close()

    for node in nodes:
        log = node.log.read_text(errors="replace")
        assert "lost its connection" in log, log[-3000:]
        assert "reconnected" in log, log[-3000:]
