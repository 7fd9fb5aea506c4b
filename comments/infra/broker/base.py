"""The broker interface: publish bytes to a channel; subscribe and unsubscribe.

A broker only carries hints that an article has a new event; the store holds the events.
So a broker may lose messages while disconnected, but it must say so: after a reconnect
it calls ``on_resync`` and the hub reads whatever it missed from the store.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable

from comments.infra.broker.reconnect import safe_url

MessageHandler = Callable[[str, bytes], None]
ResyncHandler = Callable[[], None]


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


class Broker(ABC):
    """A pub/sub connection shared by everything on one node."""

    # Whether ``barrier`` can ever pass: cached reads watch articles only then.
    barriers = False

    def __init__(self) -> None:
        self.on_message: MessageHandler = lambda channel, data: None
        self.on_resync: ResyncHandler = lambda: None

    def set_handlers(self, on_message: MessageHandler, on_resync: ResyncHandler) -> None:
        """Route messages and reconnect notices; call before ``connect``.

        Args:
            on_message: called on the event loop with (channel, data) for each message
                on a subscribed channel, including this node's own publishes.
            on_resync: called after the broker recovered from a loss of connection,
                during which messages may have been missed.
        """
        self.on_message = on_message
        self.on_resync = on_resync

    @abstractmethod
    async def connect(self) -> None:
        """Open connections. A broker that is down does not fail this: it keeps
        retrying in the background and reports ``healthy`` as False meanwhile."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close connections and stop background tasks."""

    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every node subscribed to ``channel``.

        Raises:
            BrokerUnavailable: the message could not be handed to the broker.
        """

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Start receiving ``channel``. While disconnected the subscription is recorded
        and made on reconnect."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel``."""

    @property
    @abstractmethod
    def healthy(self) -> bool:
        """True while the broker is connected and delivering."""

    async def barrier(self) -> bool:
        """True once every message published (anywhere) before this call, on a channel
        this node had subscribed to by then, has been handed to ``on_message``; False
        when the broker cannot tell (then callers read the store instead). Cached reads
        trust what the hub learnt from messages only behind a True barrier."""
        return False

    async def ping(self) -> None:
        """Raise BrokerUnavailable unless the broker answers now."""
        if not self.healthy:
            raise BrokerUnavailable("not connected")


# Name -> import string, so a scheme's library is imported only when it is used.
BROKERS = {
    "memory": "comments.infra.broker.memory:MemoryBroker",
    "redis": "comments.infra.broker.redis:RedisBroker",
    "rediss": "comments.infra.broker.redis:RedisBroker",
    "redis-cluster": "comments.infra.broker.cluster:RedisClusterBroker",
    "rediss-cluster": "comments.infra.broker.cluster:RedisClusterBroker",
}


def create_broker(url: str) -> Broker:
    """The broker for a URL: ``memory://`` (in-process, one node), ``redis://host:port/db``
    (Redis pub/sub) or ``redis-cluster://host:port[,host:port...]`` (Redis Cluster sharded
    pub/sub, from any of those seed nodes); ``rediss://`` and ``rediss-cluster://`` for TLS.

    Raises:
        ValueError: unknown scheme, or a URL its broker cannot read.
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    target = BROKERS.get(scheme)
    if target is None:
        schemes = ", ".join(f"{s}://" for s in BROKERS)
        raise ValueError(f"unknown broker URL {safe_url(url)!r}: use one of {schemes}")
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    broker: Broker = cls(url)
    return broker
