"""Brokers: every case runs on the in-process broker, on real Redis and on a real Redis
Cluster (``broker_url``, widened here); the Redis-only cases run two brokers as two nodes,
and stop and restart a redis-server of the test's own to check that a lost connection is
noticed, reported and recovered from. tests/broker/test_cluster.py has the cluster's own.
"""

from __future__ import annotations

import logging

import pytest

from comments.infra.broker import BrokerUnavailable, create_broker
from comments.infra.broker.cluster import RedisClusterBroker
from comments.infra.broker.memory import MemoryBroker
from comments.infra.broker.redis import RedisBroker
from tests.broker.conftest import RECONNECT_S, MakeNode
from tests.cluster import RedisCluster
from tests.conftest import REDIS_URL, PrivateRedis, wait_until


@pytest.fixture(params=["memory", "redis", "cluster"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """This module's cases also run on the cluster broker. Only here: the suite-wide
    ``broker_url`` (memory, redis) would run every test of the suite a third time."""
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return "memory://" if request.param == "memory" else REDIS_URL


# -- every broker -----------------------------------------------------------------------


async def test_subscriber_receives_channel_and_bytes_exactly(
    broker_url: str, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(broker_url)
    channel = f"{channel_prefix}:news:2025/07/lavrov-kim"
    await node.broker.subscribe(channel)
    await node.broker.publish(channel, b'7\n{"type":"comment.published"}')
    await wait_until(lambda: node.received)
    assert node.received == [(channel, b'7\n{"type":"comment.published"}')]
    channel_got, data_got = node.received[0]
    assert type(channel_got) is str and type(data_got) is bytes


BINARY = [
    pytest.param(b"\xff\xfe\x00\x80 not utf-8", id="non-utf8"),
    pytest.param(b"12\n{}\r\n\n\x00\n", id="newlines-and-nul"),
    pytest.param(b"", id="empty"),
    pytest.param("Лавров \u2013 金正恩 🙂".encode(), id="utf8"),
    pytest.param(bytes(range(256)) * 400, id="100kb-every-byte"),
]


@pytest.mark.parametrize("data", BINARY)
async def test_payload_is_binary_safe(
    broker_url: str, channel_prefix: str, make_node: MakeNode, data: bytes
) -> None:
    node = await make_node(broker_url)
    channel = f"{channel_prefix}:bin"
    await node.broker.subscribe(channel)
    await node.broker.publish(channel, data)
    await wait_until(lambda: node.received)
    assert node.received == [(channel, data)]


async def test_messages_arrive_in_publish_order(
    broker_url: str, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(broker_url)
    channel = f"{channel_prefix}:order"
    await node.broker.subscribe(channel)
    sent = [b"%d" % i for i in range(200)]
    for data in sent:
        await node.broker.publish(channel, data)
    await wait_until(lambda: len(node.received) >= len(sent))
    assert node.got(channel) == sent


async def test_no_delivery_on_a_channel_not_subscribed(
    broker_url: str, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(broker_url)
    watched, other = f"{channel_prefix}:watched", f"{channel_prefix}:other"
    await node.broker.subscribe(watched)
    await node.broker.publish(other, b"not for you")
    # Published after the other one on the same broker: once it is in, the first one
    # would have been too.
    await node.broker.publish(watched, b"marker")
    await wait_until(lambda: node.got(watched))
    assert node.received == [(watched, b"marker")]


async def test_unsubscribe_stops_delivery(
    broker_url: str, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(broker_url)
    left, kept = f"{channel_prefix}:left", f"{channel_prefix}:kept"
    await node.broker.subscribe(left)
    await node.broker.subscribe(kept)
    await node.broker.publish(left, b"before")
    await wait_until(lambda: node.got(left))

    await node.broker.unsubscribe(left)
    await node.broker.publish(left, b"after")
    await node.broker.publish(kept, b"marker")
    await wait_until(lambda: node.got(kept))
    assert node.got(left) == [b"before"]
    assert node.got(kept) == [b"marker"]

    # Subscribing again resumes delivery.
    await node.broker.subscribe(left)
    await node.broker.publish(left, b"again")
    await wait_until(lambda: b"again" in node.got(left))
    assert node.got(left) == [b"before", b"again"]


async def test_healthy_broker_answers_ping(broker_url: str, make_node: MakeNode) -> None:
    node = await make_node(broker_url)
    assert node.broker.healthy
    await node.broker.ping()


async def test_broker_is_unhealthy_before_connect_and_after_disconnect(
    broker_url: str, make_node: MakeNode
) -> None:
    idle = create_broker(broker_url)
    assert not idle.healthy
    with pytest.raises(BrokerUnavailable):
        await idle.ping()
    await idle.disconnect()

    node = await make_node(broker_url)
    await node.broker.disconnect()
    assert not node.broker.healthy
    with pytest.raises(BrokerUnavailable):
        await node.broker.ping()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        pytest.param("memory://", MemoryBroker, id="memory"),
        pytest.param("redis://127.0.0.1:6379/0", RedisBroker, id="redis"),
        pytest.param("rediss://127.0.0.1:6380/0", RedisBroker, id="rediss"),
        pytest.param(
            "redis-cluster://127.0.0.1:7000,127.0.0.1:7001", RedisClusterBroker, id="cluster"
        ),
        pytest.param("rediss-cluster://127.0.0.1:7000", RedisClusterBroker, id="cluster-tls"),
    ],
)
async def test_create_broker_picks_by_scheme(url: str, kind: type) -> None:
    broker = create_broker(url)
    try:
        assert type(broker) is kind
    finally:
        await broker.disconnect()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("kafka://127.0.0.1:9092", id="unknown-scheme"),
        pytest.param("127.0.0.1:6379", id="no-scheme"),
        pytest.param("", id="empty"),
    ],
)
def test_create_broker_rejects_unknown_scheme(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        create_broker(url)
    message = str(raised.value)
    for valid in ("memory://", "redis://", "rediss://", "redis-cluster://", "rediss-cluster://"):
        assert valid in message


# -- Redis: several nodes, lost connections ---------------------------------------------


async def test_two_redis_nodes_hear_each_other(channel_prefix: str, make_node: MakeNode) -> None:
    a = await make_node(REDIS_URL)
    b = await make_node(REDIS_URL)
    channel = f"{channel_prefix}:news:a1"
    await a.broker.subscribe(channel)
    await b.broker.subscribe(channel)

    await a.broker.publish(channel, b"from a")
    await wait_until(lambda: b.got(channel) and a.got(channel))
    await b.broker.publish(channel, b"from b")
    await wait_until(lambda: len(a.got(channel)) == 2 and len(b.got(channel)) == 2)
    assert a.got(channel) == b.got(channel) == [b"from a", b"from b"]


async def test_redis_broker_recovers_after_redis_restarts(
    private_redis: PrivateRedis, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(private_redis.url)
    before = f"{channel_prefix}:before"
    during = f"{channel_prefix}:during"
    await node.broker.subscribe(before)
    assert node.resyncs == 0

    private_redis.stop()
    await wait_until(lambda: not node.broker.healthy)
    with pytest.raises(BrokerUnavailable):
        await node.broker.publish(before, b"lost")
    with pytest.raises(BrokerUnavailable):
        await node.broker.ping()
    # Made while Redis is away: recorded, and made once it is back.
    await node.broker.subscribe(during)

    private_redis.start()
    await wait_until(lambda: node.broker.healthy, timeout=RECONNECT_S)
    # It says it may have missed messages, so the hub reads them from the store.
    await wait_until(lambda: node.resyncs == 1)
    await node.broker.ping()

    # Healthy means resubscribed: a second node's publish is delivered at once.
    other = await make_node(private_redis.url)
    await other.broker.publish(before, b"after restart")
    await other.broker.publish(during, b"subscribed while down")
    await wait_until(lambda: node.got(before) and node.got(during))
    assert node.got(before) == [b"after restart"]
    assert node.got(during) == [b"subscribed while down"]


async def test_redis_broker_logs_a_lost_connection(
    private_redis: PrivateRedis, make_node: MakeNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="comments.broker")
    node = await make_node(private_redis.url)

    def warnings() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "comments.broker" and r.levelno == logging.WARNING
        ]

    assert warnings() == []
    private_redis.stop()
    await wait_until(lambda: any("lost" in m for m in warnings()))
    assert any(str(private_redis.port) in m for m in warnings())

    private_redis.start()
    await wait_until(lambda: node.broker.healthy, timeout=RECONNECT_S)
    await wait_until(lambda: any("reconnected" in m for m in warnings()))
    # One warning for the loss however many attempts failed, one for the recovery.
    assert len(warnings()) == 2
