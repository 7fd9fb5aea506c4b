"""Command clients for what talks to Redis itself (rate limits, the scoring stream), built
from COMMENTS_REDIS_URL: one server (``redis://``, ``rediss://``) or a Redis Cluster
(``redis-cluster://``, ``rediss-cluster://``, whose seed nodes and credentials are parsed
as the cluster broker parses them).

Both clients take the same commands. Each command or MULTI the callers send names one key
(or keys of one slot), so the cluster client routes it to the master of that slot and
follows MOVED and ASK redirections itself. Callers await ``ready(client)`` before each
command (see there why).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

from comments.infra.broker.cluster import SCHEMES as CLUSTER_SCHEMES
from comments.infra.broker.cluster import parse_cluster_url

Client = aioredis.Redis | RedisCluster


def is_cluster(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def connect(url: str, **options: Any) -> Client:
    """A client for ``url``; ``options`` are redis-py's (timeouts, ``retry``…), which
    both clients take. Connects lazily, on the first command.

    Raises:
        ValueError: a cluster URL that is not well formed.
    """
    if not is_cluster(url):
        return aioredis.Redis.from_url(url, **options)
    config = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in config.seeds],
        username=config.username,
        password=config.password,
        ssl=config.tls,
        # Pinned, as for the cluster broker: redis-py's default may move to RESP3, which
        # would also turn on its maintenance-notification handshake.
        protocol=2,
        # A MOVED reply only updates the owner of that slot. By default every 5th MOVED
        # makes redis-py 8.1 close the whole client, which cuts the connections other
        # commands are using at that moment ("Connection closed by server").
        reinitialize_steps=0,
        **options,
    )


async def ready(client: Client) -> None:
    """Make a cluster client learn the slot map (CLUSTER SLOTS) if it knows none, as at
    first and after an error made it forget: redis-py 8.1 sends a command issued while
    it knows none to a random master, and follows the MOVED that comes back. Cheap (no
    I/O) once it knows; nothing to do for one server."""
    if isinstance(client, RedisCluster):
        await client.initialize()


@contextlib.contextmanager
def cluster_errors_as_redis_errors() -> Iterator[None]:
    """The cluster client reports a cluster it cannot reach (or a slot nobody serves) with
    RedisClusterException, which is not a RedisError: raised as a ConnectionError, it is
    handled like one server being away wherever RedisError is."""
    try:
        yield
    except RedisClusterException as exc:
        raise RedisConnectionError(str(exc) or type(exc).__name__) from exc
