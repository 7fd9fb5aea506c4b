"""What the broker tests share: brokers as nodes of a deployment (``make_node``). The real
Redis Cluster (``redis_cluster``) comes from tests/cluster.py, registered suite-wide."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from comments.infra.broker import create_broker
from tests.conftest import wait_until

# Reconnecting waits out a backoff of up to 5 s (with jitter) after a failed attempt.
RECONNECT_S = 30.0


class Node:
    """A broker and what it received, as one node of a deployment holds them."""

    def __init__(self, url: str) -> None:
        self.broker = create_broker(url)
        self.received: list[tuple[str, bytes]] = []
        self.resyncs = 0
        self.broker.set_handlers(self._on_message, self._on_resync)

    def _on_message(self, channel: str, data: bytes) -> None:
        self.received.append((channel, data))

    def _on_resync(self) -> None:
        self.resyncs += 1

    def got(self, channel: str) -> list[bytes]:
        return [data for ch, data in self.received if ch == channel]


MakeNode = Callable[[str], Awaitable[Node]]


@pytest.fixture
async def make_node() -> AsyncIterator[MakeNode]:
    """Factory: ``await make_node(url)`` → a connected, healthy Node."""
    nodes: list[Node] = []

    async def make(url: str) -> Node:
        node = Node(url)
        nodes.append(node)
        await node.broker.connect()
        await wait_until(lambda: node.broker.healthy)
        return node

    yield make
    for node in nodes:
        await node.broker.disconnect()
