"""The Redis Cluster broker on a real three-master cluster: channels spread over the shards
reach every node, each channel's traffic stays on the master that owns its slot, and a
master that goes away, or a slot that moves, is noticed, reported and recovered from.
The generic broker cases run on it too (test_broker.py)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from redis.crc import key_slot

from comments.infra.broker import BrokerUnavailable, create_broker
from comments.infra.broker.cluster import ClusterURL, parse_cluster_url
from comments.settings import Settings
from tests.broker.conftest import RECONNECT_S, MakeNode
from tests.cluster import ClusterNode, RedisCluster
from tests.conftest import RunningServer, add_site, wait_until
from tests.live import post, recv_events, socket_url


def spread(cluster: RedisCluster, prefix: str, per_master: int = 2) -> list[str]:
    """Article channels, named as the hub names them, at least ``per_master`` on each
    master."""
    picked: dict[int, list[str]] = {node.port: [] for node in cluster.nodes}
    for i in range(10_000):
        channel = f"{prefix}:article:news:2025/07/story-{i}"
        mine = picked[cluster.owner(channel).port]
        if len(mine) < per_master:
            mine.append(channel)
        if all(len(v) == per_master for v in picked.values()):
            return [c for v in picked.values() for c in v]
    raise AssertionError("no spread of channels over the masters")


def on(cluster: RedisCluster, node: ClusterNode, prefix: str) -> str:
    """A channel whose slot ``node`` owns."""
    return next(c for c in spread(cluster, prefix, 1) if cluster.owner(c) is node)


# -- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        pytest.param(
            "redis-cluster://10.0.0.1:7000",
            ClusterURL(seeds=(("10.0.0.1", 7000),)),
            id="one-seed",
        ),
        pytest.param(
            "redis-cluster://a.internal:7000, b.internal:7001,a.internal:7000/",
            ClusterURL(seeds=(("a.internal", 7000), ("b.internal", 7001))),
            id="seeds-deduplicated",
        ),
        pytest.param(
            "rediss-cluster://app:p%40ss:w@[::1]:7000/0",
            ClusterURL(seeds=(("::1", 7000),), username="app", password="p@ss:w", tls=True),
            id="tls-user-password-ipv6",
        ),
        pytest.param(
            "redis-cluster://:secret@h:1",
            ClusterURL(seeds=(("h", 1),), password="secret"),
            id="password-only",
        ),
    ],
)
def test_cluster_url_names_seeds_and_credentials(url: str, parsed: ClusterURL) -> None:
    assert parse_cluster_url(url) == parsed
    if parsed.password:
        assert parsed.password not in repr(parse_cluster_url(url))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param("redis-cluster://", "names no node", id="no-node"),
        pytest.param("redis-cluster://10.0.0.1", "is not host:port", id="no-port"),
        pytest.param("redis-cluster://10.0.0.1:70000", "is not host:port", id="port-range"),
        pytest.param("redis-cluster://h:1,,h:2", "is not host:port", id="empty-seed"),
        pytest.param("redis-cluster://h:abc", "is not host:port", id="port-not-number"),
        pytest.param("redis-cluster://[::1:7000", "is not host:port", id="open-bracket"),
        pytest.param("redis-cluster://h:7000/3", "only database 0", id="database"),
        pytest.param("redis-cluster://h:7000?timeout=1", "no options", id="options"),
        pytest.param("redis-cluster://u:hunter2@h", "is not host:port", id="hides-password"),
    ],
)
def test_bad_cluster_url_is_a_clear_value_error(url: str, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        create_broker(url)
    message = str(raised.value)
    assert why in message
    assert "Redis Cluster URL" in message
    assert "hunter2" not in message


# -- shards -------------------------------------------------------------------------------


async def test_channels_on_every_shard_reach_both_nodes(
    redis_cluster: RedisCluster, channel_prefix: str, make_node: MakeNode
) -> None:
    channels = spread(redis_cluster, channel_prefix)
    assert {redis_cluster.owner(c).port for c in channels} == {n.port for n in redis_cluster.nodes}
    a = await make_node(redis_cluster.url)
    b = await make_node(redis_cluster.url)
    for channel in channels:
        await a.broker.subscribe(channel)
        await b.broker.subscribe(channel)

    for i, channel in enumerate(channels):
        sender = a if i % 2 else b
        await sender.broker.publish(channel, f"{i} from {'a' if i % 2 else 'b'}".encode())
    await wait_until(lambda: len(a.received) == len(b.received) == len(channels))
    for i, channel in enumerate(channels):
        expected = [f"{i} from {'a' if i % 2 else 'b'}".encode()]
        assert a.got(channel) == b.got(channel) == expected


async def test_channel_traffic_stays_on_the_owning_master(
    redis_cluster: RedisCluster, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(redis_cluster.url)
    for channel in spread(redis_cluster, channel_prefix, 1):
        owner = redis_cluster.owner(channel)
        others = [n for n in redis_cluster.nodes if n is not owner]
        await node.broker.subscribe(channel)
        # Subscribed on the owner only...
        assert redis_cluster.subscribers(owner, channel) == 1
        assert [redis_cluster.subscribers(n, channel) for n in others] == [0, 0]

        # ...and published there only: no other master executes an SPUBLISH.
        before = {n.port: redis_cluster.spublish_calls(n) for n in redis_cluster.nodes}
        for i in range(20):
            await node.broker.publish(channel, b"%d" % i)
        await wait_until(lambda channel=channel: len(node.got(channel)) == 20)
        after = {n.port: redis_cluster.spublish_calls(n) for n in redis_cluster.nodes}
        assert after[owner.port] - before[owner.port] == 20
        assert [after[n.port] - before[n.port] for n in others] == [0, 0]

        await node.broker.unsubscribe(channel)
        await wait_until(lambda ch=channel, m=owner: redis_cluster.subscribers(m, ch) == 0)


# -- failures -----------------------------------------------------------------------------


async def test_cluster_broker_recovers_after_a_master_restarts(
    redis_cluster: RedisCluster, channel_prefix: str, make_node: MakeNode
) -> None:
    node = await make_node(redis_cluster.url)
    channels = spread(redis_cluster, channel_prefix, 1)
    for channel in channels:
        await node.broker.subscribe(channel)
    down = redis_cluster.nodes[1]
    lost = on(redis_cluster, down, channel_prefix)
    assert node.resyncs == 0

    down.stop()
    await wait_until(lambda: not node.broker.healthy)
    with pytest.raises(BrokerUnavailable):
        await node.broker.publish(lost, b"lost")
    with pytest.raises(BrokerUnavailable):
        await node.broker.ping()
    # Made while a master is away: recorded, and made once it is back.
    during = f"{channel_prefix}:during"
    await node.broker.subscribe(during)

    down.start()  # the same port and nodes.conf: it rejoins the cluster
    await wait_until(lambda: node.broker.healthy, timeout=RECONNECT_S)
    # It says it may have missed messages, so the hub reads them from the store.
    await wait_until(lambda: node.resyncs == 1)
    await node.broker.ping()
    assert redis_cluster.subscribers(down, lost) == 1

    # Healthy means resubscribed everywhere: a second node's publishes are delivered.
    other = await make_node(redis_cluster.url)
    for channel in [*channels, during]:
        await other.broker.publish(channel, b"after restart")
    await wait_until(lambda: all(node.got(c) for c in [*channels, during]))
    for channel in [*channels, during]:
        assert node.got(channel) == [b"after restart"]


async def test_cluster_broker_notices_a_master_that_falls_silent(
    redis_cluster: RedisCluster, channel_prefix: str, make_node: MakeNode
) -> None:
    # A stopped process keeps its sockets open, as a host cut off by the network does:
    # no error ever comes, only silence, which the broker's PINGs must notice.
    node = await make_node(redis_cluster.url)
    silent = redis_cluster.nodes[0]
    channel = on(redis_cluster, silent, channel_prefix)
    await node.broker.subscribe(channel)
    assert silent.proc is not None
    silent.proc.send_signal(signal.SIGSTOP)
    try:
        await wait_until(lambda: not node.broker.healthy, timeout=RECONNECT_S)
    finally:
        silent.proc.send_signal(signal.SIGCONT)
    await wait_until(lambda: node.broker.healthy and node.resyncs == 1, timeout=RECONNECT_S)
    other = await make_node(redis_cluster.url)
    await other.broker.publish(channel, b"awake")
    await wait_until(lambda: node.got(channel))
    assert node.got(channel) == [b"awake"]


async def test_cluster_broker_logs_a_lost_master_but_never_the_password(
    redis_cluster: RedisCluster,
    channel_prefix: str,
    make_node: MakeNode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="comments.broker")
    password = f"pw-{channel_prefix}"
    user = ["ACL", "SETUSER", channel_prefix, "on", f">{password}", "&*", "+@all"]
    for master in redis_cluster.nodes:
        master.command(*user)
    url = redis_cluster.url.replace("://", f"://{channel_prefix}:{password}@")
    try:
        node = await make_node(url)
        channel = on(redis_cluster, redis_cluster.nodes[2], channel_prefix)
        await node.broker.subscribe(channel)

        def warnings() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.name == "comments.broker" and r.levelno == logging.WARNING
            ]

        assert warnings() == []
        down = redis_cluster.nodes[2]
        down.stop()
        await wait_until(lambda: any("lost" in m for m in warnings()))
        assert any(str(down.port) in m for m in warnings())

        down.start()
        down.command(*user)  # ACL users live in memory only
        await wait_until(lambda: node.broker.healthy, timeout=RECONNECT_S)
        await wait_until(lambda: any("reconnected" in m for m in warnings()))
        # One warning for the loss however many attempts failed, one for the recovery.
        assert len(warnings()) == 2
        assert "***@" in caplog.text
        assert password not in caplog.text
    finally:
        for master in redis_cluster.nodes:
            if master.running:
                master.command("ACL", "DELUSER", channel_prefix)


async def test_cluster_broker_follows_a_slot_to_its_new_master(
    redis_cluster: RedisCluster, channel_prefix: str, make_node: MakeNode
) -> None:
    source, target = redis_cluster.nodes[0], redis_cluster.nodes[1]
    channel = on(redis_cluster, source, channel_prefix)
    node = await make_node(redis_cluster.url)
    await node.broker.subscribe(channel)
    # Connected before the move: it still believes the slot is on the source.
    publisher = await make_node(redis_cluster.url)

    def move(slot: int, to: ClusterNode) -> None:
        # What a resharding does to an empty slot (pub/sub channels are not keys).
        owner = redis_cluster.owner(channel)
        to.command("CLUSTER", "SETSLOT", str(slot), "IMPORTING", owner.command("CLUSTER", "MYID"))
        owner.command("CLUSTER", "SETSLOT", str(slot), "MIGRATING", to.command("CLUSTER", "MYID"))
        for n in (to, owner, *[n for n in redis_cluster.nodes if n not in (to, owner)]):
            n.command("CLUSTER", "SETSLOT", str(slot), "NODE", to.command("CLUSTER", "MYID"))

    slot = key_slot(channel.encode())
    move(slot, target)
    try:
        # The source ends our subscription (sunsubscribe): the broker subscribes again
        # on the new owner and resyncs, since messages may have fallen in between.
        await wait_until(lambda: redis_cluster.subscribers(target, channel) == 1)
        await wait_until(lambda: node.resyncs == 1 and node.broker.healthy)
        assert redis_cluster.subscribers(source, channel) == 0

        # The publisher is redirected (MOVED) to the new owner.
        await publisher.broker.publish(channel, b"after the move")
        await wait_until(lambda: node.got(channel))
        assert node.got(channel) == [b"after the move"]
        assert publisher.resyncs == 0
    finally:
        move(slot, source)
        redis_cluster.wait_ok()


# -- end to end ---------------------------------------------------------------------------


async def test_comment_posted_on_one_server_reaches_a_socket_on_another(
    redis_cluster: RedisCluster,
    postgres_url: str,
    channel_prefix: str,
    start_server: Callable[..., Any],
) -> None:
    await add_site(postgres_url)
    # No periodic sweep: only the broker can carry the comment from A to B.
    settings = Settings(
        database_url=postgres_url,
        broker_url=redis_cluster.url,
        channel_prefix=channel_prefix,
        resync_interval_s=0,
        classifier="profanity-check",
    )
    a: RunningServer = await start_server(settings)
    b: RunningServer = await start_server(settings)
    await wait_until(lambda: a.node.broker.healthy and b.node.broker.healthy)
    articles = [c.rsplit(":", 1)[1] for c in spread(redis_cluster, channel_prefix, 1)]
    sockets = [await websockets.connect(socket_url(b.ws_url, "news", x)) for x in articles]
    try:
        async with a.client() as http:
            for article, ws in zip(articles, sockets, strict=True):
                comment = (await post(http, article, f"hello {article} from A"))["comment"]
                assert await recv_events(ws) == [
                    {"type": "comment.published", "seq": 1, "comment": comment}
                ]
        async with b.client() as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["broker"]["state"] == "ok"
    finally:
        for ws in sockets:
            await ws.close()
