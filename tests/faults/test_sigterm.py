"""SIGTERM on a node with posts in flight and sockets open (a rolling deploy).

Three `comments serve` nodes on PostgreSQL and Redis. The doomed node's classifier waits
for a batch to fill (COMMENTS_CLASSIFIER_BATCH_WAIT_MS, a real setting) so that 40 posts
are provably in flight, their guest authors stored and their comments waiting for their
scores (a post is stored with its decision, in one transaction), when SIGTERM arrives.
Every one of them must get its complete answer; posts sent after the signal are
answered or refused, never half-done; every socket is closed with 1012 and its reader,
moving to another node with ``since``, misses nothing.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from tests.conftest import REDIS_URL, Node, add_site, wait_until
from tests.faults.readers import Reader
from tests.live import post, thread_url

StartNode = Callable[[dict[str, str]], Node]
ARTICLE = "2025/07/lavrov-kim"
IN_FLIGHT = 40
# One batch takes all the posts in flight and waits this long to fill: long enough to see
# them all in flight, well within the 10 s uvicorn gives in-flight requests on SIGTERM.
BATCH_WAIT_MS = 6000
LATE_ATTEMPTS_MAX = 200


async def query(url: str, sql: str) -> list[Any]:
    parts = urlsplit(url.replace("postgresql+asyncpg", "postgresql"))
    conn = await asyncpg.connect(urlunsplit(parts))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def post_on_own_connection(node: Node, body: str, name: str) -> httpx.Response:
    """One post on a connection of its own, as separate readers would send them."""
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        return await http.post(
            thread_url("news", ARTICLE), json={"body": body, "author_name": name}
        )


class Late:
    """Posts sent one after another once the signal is sent, until one is refused."""

    def __init__(self) -> None:
        self.answered: list[httpx.Response] = []
        # Accepted by the kernel just before the listener closed, closed unread: the
        # client may retry elsewhere, so nothing of it may have been stored.
        self.unanswered: list[str] = []
        self.refused = 0

    async def run(self, node: Node) -> None:
        for i in range(LATE_ATTEMPTS_MAX):
            body = f"late post {i}"
            try:
                r = await post_on_own_connection(node, body, f"L{i}")
            except httpx.ConnectError:
                self.refused += 1
                return
            except (httpx.RemoteProtocolError, httpx.ReadError):
                self.unanswered.append(body)
            else:
                self.answered.append(r)
            await asyncio.sleep(0.02)  # pacing, not synchronisation
        raise AssertionError(f"still accepting connections after {LATE_ATTEMPTS_MAX} posts")


async def test_sigterm_answers_posts_in_flight_and_moves_sockets_with_1012(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url)
    env = {
        "COMMENTS_DATABASE_URL": postgres_url,
        "COMMENTS_REDIS_URL": REDIS_URL,
        "COMMENTS_CHANNEL_PREFIX": channel_prefix,
        "COMMENTS_RESYNC_INTERVAL_S": "1",
        "COMMENTS_CLASSIFIER": "profanity-check",
    }
    slow = {
        **env,
        "COMMENTS_CLASSIFIER_BATCH_SIZE": str(IN_FLIGHT + 24),
        "COMMENTS_CLASSIFIER_BATCH_WAIT_MS": str(BATCH_WAIT_MS),
    }
    doomed, b, c = await asyncio.gather(
        asyncio.to_thread(start_node, slow),
        asyncio.to_thread(start_node, env),
        asyncio.to_thread(start_node, env),
    )
    nodes = [doomed, b, c]
    on_doomed = [Reader(nodes, 0, ARTICLE) for _ in range(6)]
    elsewhere = [Reader(nodes, 1, ARTICLE), Reader(nodes, 2, ARTICLE)]
    readers = on_doomed + elsewhere
    acknowledged: list[dict[str, Any]] = []
    try:
        for reader in readers:
            await asyncio.wait_for(reader.connected.wait(), 15)
        async with httpx.AsyncClient(base_url=b.url, timeout=15) as on_b:
            for i in range(5):
                acknowledged.append((await post(on_b, ARTICLE, f"before {i}"))["comment"])
        for reader in readers:
            await wait_until(lambda r=reader: r.has(5), timeout=30)
        assert all(r.on is doomed for r in on_doomed)

        in_flight = [
            asyncio.create_task(post_on_own_connection(doomed, f"in flight {i}", f"F{i}"))
            for i in range(IN_FLIGHT)
        ]

        async def all_in_flight() -> bool:
            failed = [t for t in in_flight if t.done()]
            assert not failed, f"a post finished before the signal: {failed[0].result()}"
            # Each post made its guest before it went to be scored.
            rows = await query(
                postgres_url, "SELECT count(*) FROM authors WHERE name ~ '^F[0-9]+$'"
            )
            return int(rows[0][0]) == IN_FLIGHT

        await wait_until(all_in_flight, timeout=BATCH_WAIT_MS / 1000 - 1, interval=0.1)
        doomed.proc.send_signal(signal.SIGTERM)
        late = Late()
        await asyncio.wait_for(late.run(doomed), 60)
        answers = await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), 30)

        # Every post in flight got its whole answer, as if nothing had happened.
        for i, answer in enumerate(answers):
            assert isinstance(answer, httpx.Response), f"in-flight post {i}: {answer!r}"
            assert answer.status_code == 201, f"in-flight post {i}: {answer.text}"
            acknowledged.append(answer.json()["comment"])
        for answer in late.answered:
            assert answer.status_code in (201, 202), answer.text
            acknowledged.append(answer.json()["comment"])
        assert late.refused == 1
        print(
            f"\nSIGTERM: {IN_FLIGHT} in flight answered; after the signal "
            f"{len(late.answered)} answered, {len(late.unanswered)} closed unread, "
            f"then refused"
        )

        code = await asyncio.to_thread(doomed.proc.wait, 30)
        log = doomed.log.read_text(errors="replace")
        assert code in (0, -signal.SIGTERM), log[-3000:]
        assert "Application shutdown complete" in log, log[-3000:]
        assert "graceful shutdown exceeded" not in log, log[-3000:]

        # Every socket of the doomed node was told 1012 and moved to another node.
        for i, reader in enumerate(on_doomed):
            await wait_until(lambda r=reader: r.on is not None, timeout=30)
            assert reader.closes == [1012], f"reader {i}: {reader.closes}"
            assert reader.on in (b, c)
        assert all(r.closes == [] for r in elsewhere)

        async with httpx.AsyncClient(base_url=c.url, timeout=15) as on_c:
            for i in range(5):
                acknowledged.append((await post(on_c, ARTICLE, f"after {i}"))["comment"])

        published = sorted(int(a["seq"]) for a in acknowledged if a["status"] == "published")
        total = len(published)
        assert published == list(range(1, total + 1))
        for i, reader in enumerate(readers):
            await wait_until(lambda r=reader: r.has(total), timeout=30)
            assert reader.seqs == list(range(1, total + 1)), f"reader {i}"

        # The database agrees with every answer and holds nothing else: nothing left
        # pending, nothing stored for the posts that were closed unread.
        stored = {
            row["id"]: (row["status"], row["body"])
            for row in await query(postgres_url, "SELECT id, status, body FROM comments")
        }
        assert {a["id"]: (a["status"], a["body"]) for a in acknowledged} == stored
    finally:
        for reader in readers:
            await reader.stop()
