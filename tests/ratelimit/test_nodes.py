"""Limits on real `comments serve` nodes: shared through Redis by two nodes, kept in
memory while Redis is away, and per client address, which X-Forwarded-For names only
when the peer is a configured proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import REDIS_URL, Node, PrivateRedis, add_site, wait_until

StartNode = Callable[[dict[str, str]], Node]
ARTICLE = "2025/07/lavrov-kim"
THREAD = f"/api/v1/sites/news/articles/{ARTICLE}/comments"


def node_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_REDIS_URL": redis_url,
        "COMMENTS_CHANNEL_PREFIX": prefix,
        "COMMENTS_RESYNC_INTERVAL_S": "1",
        "COMMENTS_CLASSIFIER": "profanity-check",
        **extra,
    }


async def two_nodes(start_node: StartNode, env: dict[str, str]) -> tuple[Node, Node]:
    a, b = await asyncio.gather(
        asyncio.to_thread(start_node, env), asyncio.to_thread(start_node, env)
    )
    return a, b


async def post(
    http: httpx.AsyncClient, body: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A new guest's post (each its own author, so only the per-address limit applies)."""
    return await http.post(
        THREAD, json={"body": body, "author_name": "Guest"}, headers=headers or {}
    )


def assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.redis
async def test_two_nodes_share_the_per_address_limit(
    postgres_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    await add_site(postgres_url, posts_per_minute_per_ip=4)
    a, b = await two_nodes(start_node, node_env(postgres_url, REDIS_URL, channel_prefix))
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=10) as on_b,
    ):
        for i, http in enumerate((on_a, on_b, on_a, on_b)):
            r = await post(http, f"post {i}")
            assert r.status_code == 201, r.text
        # Four between the two nodes: each node alone saw only two.
        assert_limited(await post(on_a, "one more on A"))
        assert_limited(await post(on_b, "one more on B"))
        listed = (await on_b.get(THREAD)).json()["comments"]
        assert [c["body"] for c in listed] == [f"post {i}" for i in range(4)]


@pytest.mark.redis
async def test_redis_away_posts_still_answer_with_limits_in_memory(
    postgres_url: str, channel_prefix: str, start_node: StartNode, private_redis: PrivateRedis
) -> None:
    await add_site(postgres_url, posts_per_minute_per_ip=3)
    await add_site(postgres_url, "elsewhere", posts_per_minute_per_ip=100)
    a, b = await two_nodes(start_node, node_env(postgres_url, private_redis.url, channel_prefix))
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=10) as on_b,
    ):
        # Connected to Redis first (on another site: should this check itself fall back,
        # on a loaded machine, it must not eat into the count below).
        before = THREAD.replace("/sites/news/", "/sites/elsewhere/")
        for http in (on_a, on_b):
            r = await http.post(before, json={"body": "before the outage", "author_name": "G"})
            assert r.status_code == 201, r.text
        private_redis.stop()
        # Each node now counts in its own memory, from zero: three more on each.
        for node_http in (on_a, on_b):
            for i in range(3):
                r = await post(node_http, f"during the outage {i}")
                assert r.status_code == 201, r.text
            assert_limited(await post(node_http, "one too many"))
        metrics = (await on_a.get("/metrics")).text
        assert metric(metrics, "comments_rate_limit_fallbacks_total") >= 4
        assert any(
            "WARNING" in line and "rate limits fall back to this node's memory" in line
            for line in a.log.read_text(errors="replace").splitlines()
        )

        private_redis.start()

        async def shared_again() -> bool:
            # The restarted Redis holds no counts: the shared limit starts afresh.
            return (await post(on_b, "after the outage")).status_code == 201

        await wait_until(shared_again, timeout=30, interval=0.3)
        log = b.log.read_text(errors="replace")
        assert "rate limits are shared through Redis again" in log


# -- client addresses: X-Forwarded-For from configured proxies only -----------------------


def socket_url(node: Node) -> str:
    return f"{node.ws_url}/ws/v1/sites/news/articles/{ARTICLE}"


async def open_socket(node: Node, forwarded_for: str) -> Any:
    return await websockets.connect(
        socket_url(node), additional_headers={"X-Forwarded-For": forwarded_for}
    )


@pytest.mark.parametrize(
    ("proxies", "believed"),
    [
        pytest.param("127.0.0.1", True, id="peer-is-a-trusted-proxy"),
        pytest.param("", False, id="no-proxy-configured"),
        pytest.param("10.9.9.9", False, id="peer-is-not-the-proxy"),
    ],
)
async def test_forwarded_addresses_are_believed_from_trusted_proxies_only(
    sqlite_url: str, channel_prefix: str, start_node: StartNode, proxies: str, believed: bool
) -> None:
    await add_site(sqlite_url, posts_per_minute_per_ip=2)
    env = node_env(
        sqlite_url,
        "memory://",
        channel_prefix,
        COMMENTS_TRUSTED_PROXIES=proxies,
        COMMENTS_MAX_SOCKETS_PER_IP="1",
    )
    node = await asyncio.to_thread(start_node, env)
    one = {"X-Forwarded-For": "203.0.113.1"}
    two = {"X-Forwarded-For": "198.51.100.2"}
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        assert (await post(http, "first", one)).status_code == 201
        assert (await post(http, "second", one)).status_code == 201
        assert_limited(await post(http, "third", one))
        other = await post(http, "from another reader", two)
        if believed:
            assert other.status_code == 201, other.text
        else:  # one peer, one limit, whatever the header says
            assert_limited(other)

        first = await open_socket(node, "203.0.113.1")
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(node, "203.0.113.1")
        assert refused.value.response.status_code == 429
        if believed:
            second = await open_socket(node, "198.51.100.2")
            await second.close()
        else:
            with pytest.raises(InvalidStatus) as refused:
                await open_socket(node, "198.51.100.2")
            assert refused.value.response.status_code == 429
        await first.close()


async def test_reports_are_limited_per_reader_across_addresses(
    sqlite_url: str, channel_prefix: str, start_node: StartNode
) -> None:
    """Behind a proxy, one reader reporting from ever new addresses still meets a limit;
    anonymous reports stay limited per address."""
    await add_site(sqlite_url)
    env = node_env(sqlite_url, "memory://", channel_prefix, COMMENTS_TRUSTED_PROXIES="127.0.0.1")
    node = await asyncio.to_thread(start_node, env)
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        r = await post(http, "report me")
        assert r.status_code == 201, r.text
        target, guest = r.json()["comment"]["id"], r.json()["guest_token"]
        url = f"{THREAD}/{target}/report"
        codes = []
        for i in range(31):
            headers = {"X-Comments-Guest": guest, "X-Forwarded-For": f"203.0.113.{i + 1}"}
            codes.append((await http.post(url, json={}, headers=headers)).status_code)
        assert codes == [202] * 30 + [429]
        # Another reader, anonymous, from a fresh address is not held back by that one.
        fresh = {"X-Forwarded-For": "198.51.100.7"}
        assert (await http.post(url, json={}, headers=fresh)).status_code == 202
        metrics = (await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).text
        assert 'comments_rate_limited_total{limit="report_author"} 1' in metrics
