"""Rate limiters: every case runs on the in-memory limiter, on Redis and on a real Redis
Cluster (``make``); the Redis-only cases run two limiters as two nodes, and stop a
redis-server of the test's own (or the whole cluster) to check that limits fall back to
memory and come back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from comments.infra.ratelimit import RateLimiter, create_limiter
from comments.infra.ratelimit.memory import MemoryRateLimiter
from comments.infra.ratelimit.redis import RETRY_S, RedisRateLimiter
from tests.cluster import CLUSTER_OK_S, ClusterNode, RedisCluster
from tests.conftest import REDIS_URL, PrivateRedis, wait_until


class Clock:
    """Time the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


MakeLimiter = Callable[..., RateLimiter]


def shared_url(request: pytest.FixtureRequest) -> str:
    """The URL of the Redis a ``redis`` or ``cluster`` run shares its counts through."""
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return REDIS_URL


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make(request: pytest.FixtureRequest, channel_prefix: str) -> AsyncIterator[MakeLimiter]:
    """Factory: ``make(clock)`` → a limiter of this run's kind, closed at teardown."""
    made: list[RateLimiter] = []
    url = "" if request.param == "memory" else shared_url(request)

    def build(clock: Clock | None = None) -> RateLimiter:
        limiter: RateLimiter
        if request.param == "memory":
            limiter = MemoryRateLimiter(clock=clock) if clock else MemoryRateLimiter()
        else:
            limiter = RedisRateLimiter(url, channel_prefix, clock=clock)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.close()


# -- every limiter ------------------------------------------------------------------------


async def test_limit_reached_says_how_long_to_wait(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make(clock)
    assert [await limiter.hit("k", 3, 60) for _ in range(3)] == [None] * 3
    assert await limiter.hit("k", 3, 60) == pytest.approx(60.0)
    clock.now += 10
    assert await limiter.hit("k", 3, 60) == pytest.approx(50.0)
    clock.now += 49.5
    assert await limiter.hit("k", 3, 60) == pytest.approx(0.5)


async def test_the_window_slides(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make(clock)
    assert await limiter.hit("k", 2, 60) is None  # t=0
    clock.now += 30
    assert await limiter.hit("k", 2, 60) is None  # t=30
    clock.now += 29
    assert await limiter.hit("k", 2, 60) == pytest.approx(1.0)
    clock.now += 1  # t=60: the first hit leaves the window, the second stays
    assert await limiter.hit("k", 2, 60) is None
    # A fixed window would now allow a second hit; the sliding one waits for t=90.
    assert await limiter.hit("k", 2, 60) == pytest.approx(30.0)


async def test_refused_hits_are_not_counted(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make(clock)
    assert await limiter.hit("k", 1, 10) is None
    for _ in range(20):
        clock.now += 0.4
        assert await limiter.hit("k", 1, 10) is not None
    clock.now += 2
    assert await limiter.hit("k", 1, 10) is None


async def test_keys_are_independent(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make(clock)
    assert await limiter.hit("ip:news:203.0.113.9", 1, 60) is None
    assert await limiter.hit("ip:news:203.0.113.9", 1, 60) is not None
    assert await limiter.hit("ip:news:203.0.113.10", 1, 60) is None
    assert await limiter.hit("ip:other:203.0.113.9", 1, 60) is None
    assert await limiter.hit("author:g_1", 1, 60) is None


@pytest.mark.parametrize("limit", [0, -1])
async def test_zero_means_no_limit(make: MakeLimiter, limit: int) -> None:
    limiter = make(Clock())
    assert [await limiter.hit("k", limit, 60) for _ in range(500)] == [None] * 500


async def test_concurrent_hits_take_exactly_the_limit(make: MakeLimiter) -> None:
    limiter = make()
    results = await asyncio.gather(*(limiter.hit("burst", 5, 60) for _ in range(40)))
    assert sum(r is None for r in results) == 5
    assert all(r is None or 0 < r <= 60 for r in results)


def test_built_from_the_broker_url(channel_prefix: str) -> None:
    assert isinstance(create_limiter("memory://", channel_prefix), MemoryRateLimiter)
    for url in (
        REDIS_URL,
        "rediss://redis.example:6380/0",
        "redis-cluster://10.0.0.1:7000,10.0.0.2:7000",
        "rediss-cluster://app:secret@redis.example:7000",
    ):
        limiter = create_limiter(url, channel_prefix)
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.prefix.startswith(f"{channel_prefix}:")


# -- Redis: shared by nodes, keys that vanish, an outage ----------------------------------


@pytest.fixture(params=["redis", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    return shared_url(request)


@pytest.mark.redis
async def test_two_nodes_share_one_count(url: str, channel_prefix: str) -> None:
    # A generous timeout: on a loaded machine a call past the default 0.5 s falls back to
    # the node's own memory (by design), which would count apart; this test is about the
    # shared count.
    a = RedisRateLimiter(url, channel_prefix, timeout_s=10)
    b = RedisRateLimiter(url, channel_prefix, timeout_s=10)
    other_deployment = RedisRateLimiter(url, f"{channel_prefix}-other", timeout_s=10)
    try:
        assert await a.hit("ip:news:203.0.113.9", 3, 60) is None
        assert await b.hit("ip:news:203.0.113.9", 3, 60) is None
        assert await a.hit("ip:news:203.0.113.9", 3, 60) is None
        for node in (a, b):
            wait = await node.hit("ip:news:203.0.113.9", 3, 60)
            assert wait is not None and 59 < wait <= 60
        # Concurrent hits from both nodes: still exactly the limit between them.
        results = await asyncio.gather(*(n.hit("burst", 7, 60) for n in (a, b) * 20))
        assert sum(r is None for r in results) == 7
        # A deployment with another prefix on the same Redis counts apart.
        assert await other_deployment.hit("ip:news:203.0.113.9", 3, 60) is None
        assert a.fallbacks == b.fallbacks == other_deployment.fallbacks == 0
    finally:
        for limiter in (a, b, other_deployment):
            await limiter.close()


@pytest.mark.redis
async def test_on_a_cluster_counts_spread_over_the_masters(
    redis_cluster: RedisCluster, channel_prefix: str
) -> None:
    """Each key's count lives on the master of its slot, so limits add no hot shard."""
    limiter = RedisRateLimiter(redis_cluster.url, channel_prefix)

    def counts_on(node: ClusterNode) -> int:
        keys = node.command("KEYS", f"{channel_prefix}:ratelimit:*")
        assert isinstance(keys, list)
        return len(keys)

    try:
        for i in range(60):
            assert await limiter.hit(f"post-ip:news:203.0.113.{i}", 1, 60) is None
            assert await limiter.hit(f"post-ip:news:203.0.113.{i}", 1, 60) is not None
        held = {node.port: counts_on(node) for node in redis_cluster.nodes}
        assert sum(held.values()) == 60
        assert all(held.values()), f"a master holds no count: {held}"
        assert limiter.fallbacks == 0
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_keys_expire_with_their_window(channel_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, channel_prefix)
    client = aioredis.Redis.from_url(REDIS_URL)
    key = f"{channel_prefix}:ratelimit:short"
    try:
        assert await limiter.hit("long", 5, 60) is None
        ttl = await client.pttl(f"{channel_prefix}:ratelimit:long")
        assert 0 < ttl <= 60_000
        assert await limiter.hit("short", 5, 0.3) is None
        assert await client.exists(key) == 1

        async def gone() -> bool:
            return await client.exists(key) == 0

        await wait_until(gone, timeout=10)
        assert await limiter.hit("short", 1, 0.3) is None
    finally:
        await client.delete(f"{channel_prefix}:ratelimit:long", key)
        await client.aclose()
        await limiter.close()


@pytest.mark.redis
async def test_redis_away_falls_back_to_memory_then_shares_again(
    private_redis: PrivateRedis, channel_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def back() -> None:
        private_redis.start()

    await away_then_back(private_redis.url, private_redis.stop, back, channel_prefix, caplog)


@pytest.mark.redis
async def test_cluster_away_falls_back_to_memory_then_shares_again(
    redis_cluster: RedisCluster, channel_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    def away() -> None:
        for node in redis_cluster.nodes:
            node.stop()

    async def back() -> None:
        for node in redis_cluster.nodes:
            node.start()
        # Restarted masters rejoin and take their slots back (from nodes.conf) before
        # they serve commands again.
        await wait_until(redis_cluster.ok, timeout=CLUSTER_OK_S)

    await away_then_back(redis_cluster.url, away, back, channel_prefix, caplog)


async def away_then_back(
    url: str,
    away: Callable[[], None],
    back: Callable[[], Awaitable[None]],
    channel_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis at ``url`` goes ``away`` and comes ``back`` (empty) while two limiters use it."""
    caplog.set_level(logging.INFO, logger="comments.ratelimit")
    limiter = RedisRateLimiter(url, channel_prefix)
    peer = RedisRateLimiter(url, channel_prefix)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "comments.ratelimit"]

    try:
        assert await limiter.hit("k", 2, 60) is None
        away()
        # Answers at once, from this node's memory: the limit still holds per node.
        assert await limiter.hit("k", 2, 60) is None
        assert await limiter.hit("k", 2, 60) is None
        wait = await limiter.hit("k", 2, 60)
        assert wait is not None and 59 < wait <= 60
        assert limiter.fallbacks == 3
        assert len(warnings()) == 1 and "memory" in warnings()[0]

        await back()

        async def shared_again() -> bool:
            # A fresh Redis holds no count: the first hit there is allowed.
            return await limiter.hit("fresh", 1, 60) is None and not limiter._outage

        await wait_until(shared_again, timeout=RETRY_S * 10)
        assert warnings()[-1] == "rate limits are shared through Redis again"
        assert len(warnings()) == 2
        fallbacks = limiter.fallbacks
        assert await peer.hit("fresh", 1, 60) is not None  # the peer sees that hit
        assert limiter.fallbacks == fallbacks
    finally:
        await limiter.close()
        await peer.close()
