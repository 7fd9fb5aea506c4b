"""Broker barriers (Broker.barrier): what cached reads rely on to trust marks learnt
from messages (comments.live.read_marks)."""

from __future__ import annotations

import asyncio

from tests.broker.conftest import RECONNECT_S, MakeNode
from tests.cluster import RedisCluster
from tests.conftest import REDIS_URL, PrivateRedis, wait_until

ROUNDS = 20


async def test_a_redis_barrier_comes_after_every_message_published_before_it(
    channel_prefix: str, make_node: MakeNode
) -> None:
    writer = await make_node(REDIS_URL)
    reader = await make_node(REDIS_URL)
    channel = f"{channel_prefix}:article:news:a1"
    await reader.broker.subscribe(channel)
    # Confirmed: the barrier's PING went after the SUBSCRIBE on the same connection.
    assert await reader.broker.barrier()
    for n in range(ROUNDS):
        await writer.broker.publish(channel, b"%d" % n)
        assert await reader.broker.barrier()
        # Handled already, not merely on its way: no waiting here.
        assert reader.got(channel)[-1:] == [b"%d" % n]
    # Readers in one loop turn share a PING, and all pass.
    await writer.broker.publish(channel, b"last")
    assert all(await asyncio.gather(*(reader.broker.barrier() for _ in range(50))))
    assert reader.got(channel)[-1] == b"last"


async def test_a_redis_barrier_fails_while_the_connection_is_lost(
    private_redis: PrivateRedis, make_node: MakeNode
) -> None:
    node = await make_node(private_redis.url)
    assert await node.broker.barrier()
    private_redis.stop()
    await wait_until(lambda: not node.broker.healthy)
    assert not await node.broker.barrier()
    private_redis.start()
    await wait_until(lambda: node.broker.healthy, timeout=RECONNECT_S)
    assert await node.broker.barrier()


async def test_the_memory_broker_passes_and_the_cluster_cannot_tell(
    make_node: MakeNode, redis_cluster: RedisCluster
) -> None:
    memory = await make_node("memory://")
    assert await memory.broker.barrier()
    cluster = await make_node(redis_cluster.url)
    # Not built for sharded pub/sub: cached reads there read marks from the store.
    assert not await cluster.broker.barrier()
