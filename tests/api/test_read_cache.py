"""Cached anonymous reads (comments/web/cached_reads.py): byte-identical to the uncached
answer, exact after writes on another node, 304 on If-None-Match, bounded by bytes."""

from __future__ import annotations

from dataclasses import replace

import httpx

from comments.infra.read_cache import ReadCache
from comments.settings import Settings
from tests.conftest import REDIS_URL, RunningServer, add_site, api_client
from tests.live import post, thread_url

ARTICLE = "2026/12/cached"
PAGE = thread_url("news", ARTICLE) + "?order=newest&limit=50"
COUNTS = f"/api/v1/sites/news/counts?article={ARTICLE}"


def _settings(database_url: str, channel_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=REDIS_URL,
        channel_prefix=channel_prefix,
        resync_interval_s=1.0,
    )


async def _metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


async def test_cached_page_is_the_uncached_answer_and_revalidates(
    database_url: str, channel_prefix: str, start_server: object
) -> None:
    await add_site(database_url)
    base = _settings(database_url, channel_prefix)
    cached: RunningServer = await start_server(base)  # type: ignore[operator]
    plain: RunningServer = await start_server(replace(base, read_cache_bytes=0))  # type: ignore[operator]
    async with api_client(cached.url) as a, api_client(plain.url) as b:
        for n in range(3):
            await post(a, ARTICLE, f"comment {n}")
        first = await a.get(PAGE)
        again = await a.get(PAGE)
        reference = await b.get(PAGE)
        assert first.status_code == again.status_code == 200
        assert again.content == first.content == reference.content
        assert await _metric(a, "comments_read_cache_hits_total") >= 1
        assert "public" in again.headers["cache-control"]
        assert "max-age=2" in again.headers["cache-control"]
        assert "X-Comments-Guest" in again.headers["vary"]
        etag = again.headers["etag"]
        not_modified = await a.get(PAGE, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.content == b""
        # Counts too.
        counted = await a.get(COUNTS)
        assert (await a.get(COUNTS)).content == counted.content == (await b.get(COUNTS)).content
        assert counted.json() == {"counts": {ARTICLE: 3}}
        # A reader naming an identity is answered privately, never from the shared cache.
        mine = await a.get(PAGE, headers={"X-Comments-Guest": "x" * 20})
        assert "etag" not in mine.headers and "private" in mine.headers["cache-control"]
        # After a post the old ETag no longer matches.
        await post(a, ARTICLE, "one more")
        fresh = await a.get(PAGE, headers={"If-None-Match": etag})
        assert fresh.status_code == 200 and fresh.json()["comments"][0]["body"] == "one more"


async def test_writes_on_one_node_are_seen_at_once_on_another(
    database_url: str, channel_prefix: str, start_server: object
) -> None:
    """No live subscriber on B: its cache entry is checked against last_seq per read."""
    await add_site(database_url)
    base = _settings(database_url, channel_prefix)
    node_a: RunningServer = await start_server(base)  # type: ignore[operator]
    node_b: RunningServer = await start_server(base)  # type: ignore[operator]
    async with api_client(node_a.url) as a, api_client(node_b.url) as b:
        await post(a, ARTICLE, "first")
        assert [c["body"] for c in (await b.get(PAGE)).json()["comments"]] == ["first"]
        assert (await b.get(COUNTS)).json() == {"counts": {ARTICLE: 1}}
        mine = await post(a, ARTICLE, "to be removed")
        # Read on B at once: the new comment is there, and counted.
        page = (await b.get(PAGE)).json()["comments"]
        assert [c["body"] for c in page] == ["to be removed", "first"]
        assert (await b.get(COUNTS)).json() == {"counts": {ARTICLE: 2}}
        url = thread_url("news", ARTICLE) + "/" + mine["comment"]["id"]
        r = await a.delete(url, headers={"X-Comments-Guest": mine["guest_token"]})
        assert r.status_code == 200, r.text
        # The removed comment never comes back from B's cache.
        for _ in range(3):
            bodies = [c.get("body") for c in (await b.get(PAGE)).json()["comments"]]
            assert "to be removed" not in bodies
        assert (await b.get(COUNTS)).json() == {"counts": {ARTICLE: 1}}


def test_the_byte_budget_evicts_least_recently_used() -> None:
    cache = ReadCache(budget=100)
    cache.put("a", b"x" * 40)
    cache.put("b", b"y" * 40)
    assert cache.get("a") == b"x" * 40  # a is now the most recent
    cache.put("c", b"z" * 40)
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.evictions == 1 and cache.size == 80 and len(cache) == 2
    cache.put("huge", b"h" * 101)  # larger than the budget: not kept
    assert cache.get("huge") is None and cache.size == 80
    assert not ReadCache(budget=0).enabled
