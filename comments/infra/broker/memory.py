"""In-process broker: one node, no network. The embedded default."""

from __future__ import annotations

import asyncio

from comments.infra.broker.base import Broker


class MemoryBroker(Broker):
    barriers = True

    def __init__(self, url: str = "memory://") -> None:
        super().__init__()
        self._channels: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def disconnect(self) -> None:
        self._channels.clear()
        self._loop = None

    async def publish(self, channel: str, data: bytes) -> None:
        # Delivered on a later loop turn, like a network broker, so publishers never
        # re-enter their subscribers.
        if channel in self._channels and self._loop is not None:
            self._loop.call_soon(self._deliver, channel, data)

    def _deliver(self, channel: str, data: bytes) -> None:
        if channel in self._channels:
            self.on_message(channel, data)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def barrier(self) -> bool:
        # One process: its writers tell the hub (Hub.publish) before they answer, and
        # nobody else publishes.
        return self._loop is not None

    @property
    def healthy(self) -> bool:
        return self._loop is not None
