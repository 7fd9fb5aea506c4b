"""Cached reads with no database work on a hit (comments.live.read_marks): a read right
after a write, on the same node or another, is never stale; watches are bounded and
unsubscribed when evicted; a broker loss falls back to the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event as sa_event

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
from tests.live import post, thread_url

ARTICLE = "2026/12/marks"
PAGE = thread_url("news", ARTICLE) + "?order=newest"
COUNTS = f"/api/v1/sites/news/counts?article={ARTICLE}&article=other"
# Bounded loops: enough rounds to meet the race, few enough for a slow shared machine.
ROUNDS = 40

StartServer = Callable[..., Any]


@contextmanager
def statements(server: RunningServer) -> Iterator[list[str]]:
    """The SQL statements the node's store runs meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = server.node.store.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", note)


def _newest(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    return str(page.json()["comments"][0]["body"])


async def _metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


async def test_a_hit_runs_no_query_and_a_write_is_seen_at_once(
    database_url: str, broker_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    await add_site(database_url)
    settings = Settings(
        database_url=database_url, broker_url=broker_url, channel_prefix=channel_prefix
    )
    server: RunningServer = await start_server(settings)
    async with api_client(server.url) as http:
        mine = await post(http, ARTICLE, "first")
        await http.get(PAGE)  # learns the mark
        await http.get(COUNTS)
        with statements(server) as seen:
            assert _newest(await http.get(PAGE)) == "first"
            assert (await http.get(COUNTS)).json() == {"counts": {ARTICLE: 1, "other": 0}}
        assert seen == [], seen
        for n in range(ROUNDS):
            await post(http, ARTICLE, f"comment {n}")
            assert _newest(await http.get(PAGE)) == f"comment {n}"
            counted = (await http.get(COUNTS)).json()["counts"][ARTICLE]
            assert counted == n + 2
            assert _newest(await http.get(PAGE)) == f"comment {n}"  # a hit, still exact
        # A like moves no seq, yet the page shows it at once.
        url = thread_url("news", ARTICLE) + f"/{mine['comment']['id']}/reaction"
        assert (await http.put(url, headers={"X-Comments-Guest": mine["guest_token"]})).is_success
        page = (await http.get(thread_url("news", ARTICLE))).json()["comments"]
        assert page[0]["reactions"] == 1
        assert await _metric(http, "comments_read_marks_trusted_total") >= ROUNDS


async def test_a_post_on_one_node_is_seen_on_the_other_at_once(
    postgres_url: str, channel_prefix: str, start_node: Callable[[dict[str, str]], Node]
) -> None:
    """Real `comments serve` processes on PostgreSQL and Redis: post on A, read on B
    immediately, many times; B answers from its marks in between (no query)."""
    await add_site(postgres_url)
    env = {
        "COMMENTS_DATABASE_URL": postgres_url,
        "COMMENTS_REDIS_URL": REDIS_URL,
        "COMMENTS_CHANNEL_PREFIX": channel_prefix,
        "COMMENTS_CLASSIFIER": "profanity-check",
    }
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, env), asyncio.to_thread(start_node, env)
    )
    async with api_client(a.url) as on_a, api_client(b.url) as on_b:
        await post(on_a, ARTICLE, "first")
        assert _newest(await on_b.get(PAGE)) == "first"
        for n in range(ROUNDS):
            await post(on_a, ARTICLE, f"comment {n}")
            assert _newest(await on_b.get(PAGE)) == f"comment {n}"
            assert (await on_b.get(COUNTS)).json()["counts"][ARTICLE] == n + 2
            assert _newest(await on_b.get(PAGE)) == f"comment {n}"
        # The reads in between were answered from B's marks, not the database.
        assert await _metric(on_b, "comments_read_marks_trusted_total") >= ROUNDS


async def test_evicted_watches_are_unsubscribed(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    await add_site(sqlite_url)
    settings = Settings(
        database_url=sqlite_url, channel_prefix=channel_prefix, read_cache_watch_max=2
    )
    server: RunningServer = await start_server(settings)
    hub = server.node.hub
    names = [hub.channel_name("news", f"a{n}") for n in range(3)]
    async with api_client(server.url) as http:
        for n in range(3):
            assert (await http.get(thread_url("news", f"a{n}"))).status_code == 200
        assert list(hub.read_marks.watches) == names[1:]
        await wait_until(lambda: names[0] not in server.node.broker._channels)
        assert all(n in server.node.broker._channels for n in names[1:])
        # Read again: watched (and subscribed) anew, and the least recent goes.
        await post(http, "a0", "back")
        assert _newest(await http.get(thread_url("news", "a0") + "?order=newest")) == "back"
        assert names[0] in server.node.broker._channels
        await wait_until(lambda: names[1] not in server.node.broker._channels)


async def test_a_live_socket_keeps_its_channel_when_the_watch_leaves(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    import websockets

    from tests.live import collect_until, socket_url

    await add_site(sqlite_url)
    settings = Settings(
        database_url=sqlite_url, channel_prefix=channel_prefix, read_cache_watch_max=1
    )
    server: RunningServer = await start_server(settings)
    name = server.node.hub.channel_name("news", "a0")
    async with (
        api_client(server.url) as http,
        websockets.connect(socket_url(server.ws_url, "news", "a0")) as ws,
    ):
        await wait_until(lambda: name in server.node.hub.channels)
        await http.get(thread_url("news", "a0"))
        await http.get(thread_url("news", "a1"))  # a0's watch leaves
        assert name not in server.node.hub.read_marks.watches
        await post(http, "a0", "still live")
        assert (await collect_until(ws, 1))[-1]["comment"]["body"] == "still live"
        assert name in server.node.broker._channels


async def test_a_broker_loss_falls_back_to_the_store(
    postgres_url: str,
    channel_prefix: str,
    start_server: StartServer,
    private_redis: PrivateRedis,
) -> None:
    await add_site(postgres_url)
    settings = Settings(
        database_url=postgres_url,
        broker_url=private_redis.url,
        channel_prefix=channel_prefix,
        resync_interval_s=60,
    )
    server: RunningServer = await start_server(settings)
    writer: RunningServer = await start_server(settings)
    marks = server.node.hub.read_marks
    async with api_client(server.url) as http, api_client(writer.url) as other:
        await post(other, ARTICLE, "before")
        await http.get(PAGE)
        await wait_until(lambda: marks.trusted([server.node.hub.channel_name("news", ARTICLE)]))
        private_redis.stop()
        await wait_until(lambda: not server.node.broker.healthy, timeout=20)
        # Written on the other node while no message can reach this one.
        await post(other, ARTICLE, "while away")
        trusted = marks.trusted_reads
        assert _newest(await http.get(PAGE)) == "while away"
        assert marks.trusted_reads == trusted  # read through the store
        private_redis.start()
        await wait_until(lambda: server.node.broker.healthy, timeout=30)
        await post(other, ARTICLE, "after")
        assert _newest(await http.get(PAGE)) == "after"


async def test_a_write_is_answered_after_its_broker_message_left(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    """What lets another node's barrier cover the write: the message is out first."""
    await add_site(sqlite_url)
    server: RunningServer = await start_server(
        Settings(database_url=sqlite_url, channel_prefix=channel_prefix)
    )
    broker = server.node.broker
    release = asyncio.Event()
    published: list[str] = []
    original = broker.publish

    async def slow_publish(channel: str, data: bytes) -> None:
        await release.wait()
        published.append(channel)
        await original(channel, data)

    broker.publish = slow_publish  # type: ignore[method-assign]
    async with api_client(server.url) as http:
        posting = asyncio.ensure_future(post(http, ARTICLE, "held back"))
        await wait_until(lambda: server.node.hub._sending)
        assert not posting.done()
        release.set()
        await posting
        assert published == [server.node.hub.channel_name("news", ARTICLE)]


async def test_the_short_way_answers_what_the_full_way_does(
    sqlite_url: str, channel_prefix: str, start_server: StartServer
) -> None:
    """comments.web.fast_reads answers hits before Starlette; ``limit=`` (empty) goes the
    full way to the same cached answer, so the two can be compared byte for byte."""
    await add_site(sqlite_url, origins=["https://ok.example"])
    server: RunningServer = await start_server(
        Settings(database_url=sqlite_url, channel_prefix=channel_prefix)
    )
    ignored = {"date", "server"}

    def shown(r: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
        headers = sorted((k, v) for k, v in r.headers.multi_items() if k not in ignored)
        return r.status_code, r.content, headers

    async with api_client(server.url) as http:
        await post(http, ARTICLE, "first")
        base = thread_url("news", ARTICLE)
        for origin in (None, "https://ok.example", "https://other.example"):
            headers = {} if origin is None else {"Origin": origin}
            full = await http.get(base + "?limit=", headers=headers)
            trusted = server.node.hub.read_marks.trusted_reads
            short = await http.get(base, headers=headers)
            assert server.node.hub.read_marks.trusted_reads == trusted + 1
            assert shown(short) == shown(full)
            etag = {**headers, "If-None-Match": short.headers["etag"]}
            not_modified = await http.get(base, headers=etag)
            assert shown(not_modified) == shown(await http.get(base + "?limit=", headers=etag))
            assert not_modified.status_code == 304
        counts = f"/api/v1/sites/news/counts?article={ARTICLE}&article={ARTICLE}"
        await http.get(counts)
        short = await http.get(counts)
        full = await http.get(counts, headers={"Authorization": ""})
        assert shown(short) == shown(full) and short.json() == {"counts": {ARTICLE: 1}}
        # Errors still come from the full way.
        assert (await http.get(base + "?limit=0")).status_code == 422
        assert (await http.get("/api/v1/sites/nope/counts?article=a")).status_code == 404
