"""Live counts over a real server: ``/ws/v1/sites/{site}/counts?article=…`` sends the
counts on open, then what changes (posts, deletions, rejections, approvals), coalesced,
equal to the counts endpoint; across two nodes through Redis; the handshake's refusals.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from comments.models import Status
from comments.settings import Settings
from tests.conftest import REDIS_URL, RunningServer, add_site, wait_until
from tests.live import post, thread_url

StartServer = Callable[..., Any]
ARTICLES = ["2025/07/lavrov-kim", "b", "c"]


def counts_url(server: RunningServer, articles: list[str], site: str = "news") -> str:
    query = "&".join(f"article={quote(a, safe='')}" for a in articles)
    return f"{server.ws_url}/ws/v1/sites/{site}/counts?{query}"


class Counts:
    """A count socket's frames, and the counts they add up to."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.now: dict[str, int] = {}
        self.frames: list[dict[str, int]] = []

    async def next(self, timeout: float = 10.0) -> dict[str, int]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert frame["type"] == "counts", frame
        self.frames.append(frame["counts"])
        self.now.update(frame["counts"])
        return dict(frame["counts"])

    async def until(self, expected: dict[str, int], timeout: float = 15.0) -> None:
        """Read frames until the counts are ``expected`` (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while any(self.now.get(a) != n for a, n in expected.items()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"counts {self.now}, expected {expected}")
            try:
                await self.next(left)
            except TimeoutError:
                raise AssertionError(f"counts {self.now}, expected {expected}") from None


async def open_counts(server: RunningServer, articles: list[str]) -> Counts:
    counts = Counts(await websockets.connect(counts_url(server, articles)))
    await counts.next()  # the counts on open
    return counts


async def endpoint(http: httpx.AsyncClient, articles: list[str]) -> dict[str, int]:
    r = await http.get("/api/v1/sites/news/counts", params=[("article", a) for a in articles])
    assert r.status_code == 200, r.text
    found: dict[str, int] = r.json()["counts"]
    return found


@pytest.fixture
def one_node(database_url: str, channel_prefix: str) -> Settings:
    """SQLite and PostgreSQL, the in-process broker (two nodes use Redis, below)."""
    return Settings(database_url=database_url, channel_prefix=channel_prefix, resync_interval_s=1)


async def test_counts_follow_posts_removals_and_approvals(
    one_node: Settings, start_server: StartServer
) -> None:
    await add_site(one_node.database_url)
    server: RunningServer = await start_server(one_node)
    svc = server.node
    author, _ = await svc.store.create_guest("news", "Bulk")
    for i in range(2):
        await svc.store.create_comment(
            site="news",
            article=ARTICLES[0],
            author=author,
            body=f"before {i}",
            parent=None,
            status=Status.PUBLISHED,
        )
    held, _ = await svc.store.create_comment(
        site="news", article="c", author=author, body="held", parent=None, status=Status.HELD
    )
    token = await svc.review.add_moderator("news", "ana")
    moderator = {"Authorization": f"Bearer {token}"}

    async with server.client() as http:
        counts = await open_counts(server, ARTICLES)
        assert counts.now == {ARTICLES[0]: 2, "b": 0, "c": 0} == await endpoint(http, ARTICLES)

        first = await post(http, "b", "first on b")
        reply = await post(http, "b", "a reply", guest_token=first["guest_token"])
        await counts.until({"b": 2})

        # Deleted by its author: a reply keeps its place as a tombstone, uncounted.
        r = await http.delete(
            thread_url("news", "b") + f"/{first['comment']['id']}",
            headers={"X-Comments-Guest": first["guest_token"]},
        )
        assert r.status_code == 200, r.text
        await counts.until({"b": 1})

        # A moderator rejects the reply, then approves a held comment elsewhere.
        r = await http.post(
            f"/api/v1/moderation/comments/{reply['comment']['id']}/reject", headers=moderator
        )
        assert r.status_code == 200, r.text
        await counts.until({"b": 0})
        r = await http.post(f"/api/v1/moderation/comments/{held.id}/approve", headers=moderator)
        assert r.status_code == 200, r.text
        await counts.until({"c": 1})
        assert counts.now == await endpoint(http, ARTICLES)

        # A reconnecting page gets the counts as they are now.
        await counts.ws.close()
        again = await open_counts(server, ARTICLES)
        assert again.now == {ARTICLES[0]: 2, "b": 0, "c": 1}
        await again.ws.close()

    # The last socket gone, the articles' channels close.
    await wait_until(lambda: not svc.hub.channels and not svc.counts.watched)
    assert svc.counts.sockets == 0


async def test_a_burst_is_coalesced_to_about_one_frame_a_second(
    one_node: Settings, start_server: StartServer
) -> None:
    await add_site(one_node.database_url)
    server: RunningServer = await start_server(one_node)
    svc = server.node
    counts = await open_counts(server, ["hot", "cold"])
    author, _ = await svc.store.create_guest("news", "Bulk")
    burst = 40
    started = time.monotonic()
    for i in range(burst):  # as the post endpoint does: store, then hand to the hub
        _, event = await svc.store.create_comment(
            site="news", article="hot", author=author, body=f"burst {i}", parent=None,
            status=Status.PUBLISHED,
        )  # fmt: skip
        svc.hub.publish("news", "hot", event)
        await asyncio.sleep(0)
    await counts.until({"hot": burst, "cold": 0})
    elapsed = time.monotonic() - started
    # One frame per interval at most (the first at once): a bound that a slow machine
    # loosens rather than breaks.
    allowed = 1 + math.ceil(elapsed / svc.counts.interval_s)
    assert len(counts.frames) - 1 <= allowed, (counts.frames, elapsed)
    assert all("cold" not in f for f in counts.frames[1:]), "only what changed is sent"
    await counts.ws.close()


async def test_count_sockets_share_one_watch_per_article_and_no_thread_subscriber(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    settings = Settings(database_url=sqlite_url, channel_prefix=channel_prefix)
    await add_site(sqlite_url)
    server: RunningServer = await start_server(settings)
    svc = server.node
    articles = [f"article-{i}" for i in range(20)]
    pages = [await open_counts(server, articles) for _ in range(3)]
    assert svc.counts.sockets == 3
    assert svc.hub.sockets == 0, "a count socket is no thread subscriber"
    assert len(svc.hub.channels) == 20
    assert all(len(c.watchers) == 1 for c in svc.hub.channels.values())
    for page in pages:
        await page.ws.close()
    await wait_until(lambda: not svc.hub.channels)


async def test_a_post_on_one_node_updates_a_count_socket_on_the_other(
    postgres_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    settings = Settings(
        database_url=postgres_url,
        broker_url=REDIS_URL,
        channel_prefix=channel_prefix,
        resync_interval_s=1,
    )
    await add_site(postgres_url)
    a: RunningServer = await start_server(settings)
    b: RunningServer = await start_server(settings)
    on_b = await open_counts(b, ARTICLES)
    assert on_b.now == dict.fromkeys(ARTICLES, 0)
    async with a.client() as http:
        posted = await post(http, ARTICLES[0], "from node A")
        await on_b.until({ARTICLES[0]: 1})
        token = await a.node.review.add_moderator("news", "ana")
        r = await http.post(
            f"/api/v1/moderation/comments/{posted['comment']['id']}/reject",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        await on_b.until({ARTICLES[0]: 0})
    await on_b.ws.close()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422),
        ("&".join(f"article=a{i}" for i in range(101)), 422),
        ("article=" + "x" * 201, 422),
    ],
    ids=["no-article", "too-many", "too-long"],
)
async def test_bad_queries_are_refused_at_the_handshake(
    sqlite_url: str, channel_prefix: str, start_server: StartServer, query: str, status: int
) -> None:
    await add_site(sqlite_url)
    server: RunningServer = await start_server(
        Settings(database_url=sqlite_url, channel_prefix=channel_prefix)
    )
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{server.ws_url}/ws/v1/sites/news/counts?{query}")
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["error"]["code"]


async def test_origin_site_and_socket_cap_are_checked(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    await add_site(sqlite_url)
    server: RunningServer = await start_server(
        Settings(database_url=sqlite_url, channel_prefix=channel_prefix, max_sockets_per_ip=1)
    )
    url = counts_url(server, ["a"])
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url, origin="https://elsewhere.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(counts_url(server, ["a"], site="nope"))
    assert refused.value.response.status_code == 404
    allowed = await websockets.connect(url, origin="https://partner.example")  # type: ignore[arg-type]
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 429
    await allowed.close()


async def test_a_read_that_started_earlier_never_overwrites_a_later_one(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    """Reads overlap (a socket's opening read, a flush): the count kept is the one of
    the read that started last, whichever answers last."""
    await add_site(sqlite_url)
    server: RunningServer = await start_server(
        Settings(database_url=sqlite_url, channel_prefix=channel_prefix)
    )
    counts = server.node.counts
    page = await open_counts(server, ["a"])
    entry = counts.watched[("news", "a")]
    late, early = entry.read_at + 2, entry.read_at + 1
    assert counts._note(entry, 5, late) == 5
    assert counts._note(entry, 4, early) == 5, "an older answer arriving late is dropped"
    # The change the later read found goes to the article's sockets at the next flush.
    await page.until({"a": 5})
    await page.ws.close()
