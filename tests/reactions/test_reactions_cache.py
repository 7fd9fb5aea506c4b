"""Likes and the read cache (comments/web/cached_reads.py): a like moves no seq, so the
cache key holds each article's reactions_version; a like on one node changes the page
another node serves from its cache at once. Real servers over sockets, SQLite and PG."""

from __future__ import annotations

import httpx

from comments.settings import Settings
from tests.conftest import REDIS_URL, RunningServer, add_site, api_client
from tests.live import post, thread_url

ARTICLE = "2026/12/liked"
PAGE = thread_url("news", ARTICLE) + "?order=newest&limit=50"


async def _counts(http: httpx.AsyncClient) -> list[int]:
    r = await http.get(PAGE)
    assert r.status_code == 200, r.text
    return [c["reactions"] for c in r.json()["comments"]]


async def test_a_like_on_one_node_changes_the_cached_page_on_another(
    database_url: str, channel_prefix: str, start_server: object
) -> None:
    await add_site(database_url)
    base = Settings(database_url=database_url, broker_url=REDIS_URL, channel_prefix=channel_prefix)
    node_a: RunningServer = await start_server(base)  # type: ignore[operator]
    node_b: RunningServer = await start_server(base)  # type: ignore[operator]
    async with api_client(node_a.url) as a, api_client(node_b.url) as b:
        mine = await post(a, ARTICLE, "worth a like")
        url = f"{thread_url('news', ARTICLE)}/{mine['comment']['id']}/reaction"
        reader = {"X-Comments-Guest": mine["guest_token"]}
        assert await _counts(b) == [0]
        cached = await b.get(PAGE)
        assert await _counts(b) == [0]  # served from B's cache now
        assert (await a.put(url, json={}, headers=reader)).status_code == 200
        assert await _counts(b) == [1]
        fresh = await b.get(PAGE, headers={"If-None-Match": cached.headers["etag"]})
        assert fresh.status_code == 200  # the old ETag no longer matches
        assert (await a.delete(url, headers=reader)).status_code == 200
        assert await _counts(b) == [0]
