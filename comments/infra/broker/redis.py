"""Redis pub/sub broker (redis.asyncio): the way N nodes share one live stream.

One pub/sub connection per node carries every article channel the node's sockets watch.
When it drops, the node logs it, reconnects with backoff and jitter, resubscribes, and
tells the hub to read what it missed from the store: a gap is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from comments.infra.broker.base import Broker, BrokerUnavailable
from comments.infra.broker.reconnect import Backoff, safe_url

log = logging.getLogger("comments.broker")

# How long a read waits before the loop checks the connection's health again.
POLL_S = 1.0
# A barrier PING unanswered for this long counts as failed (its readers use the store).
BARRIER_TIMEOUT_S = 1.0
BARRIER_PREFIX = b"comments-barrier:"


class RedisBroker(Broker):
    barriers = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._publisher = aioredis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=5
        )
        self._subscriber = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, health_check_interval=5
        )
        self._pubsub: PubSub | None = None
        self._channels: set[str] = set()
        # Always subscribed, so the connection exists (and its loss is seen) even when
        # no socket watches any article.
        self._control = f"comments-broker:{secrets.token_hex(8)}"
        self._healthy = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.reconnects = 0
        # Barriers (see barrier()): readers waiting for the next PING, and those whose
        # PING is out, by its number.
        self._barrier_next: list[asyncio.Future[bool]] = []
        self._barrier_out: dict[int, list[asyncio.Future[bool]]] = {}
        self._barrier_count = 0
        self._barrier_scheduled = False

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def connect(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-broker")

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._healthy = False
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def ping(self) -> None:
        try:
            await self._publisher.ping()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if not self._healthy:
            raise BrokerUnavailable("subscription connection is down")

    async def publish(self, channel: str, data: bytes) -> None:
        try:
            await self._publisher.publish(channel, data)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.add(channel)
            if self._pubsub is not None and self._healthy:
                # On failure the read loop sees the broken connection and resubscribes
                # everything in _channels once it is back.
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.discard(channel)
            if self._pubsub is not None and self._healthy:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)

    async def barrier(self) -> bool:
        """A PING on the subscription connection: Redis answers it after every message
        it queued for this connection before, and redis-py reads in order, so its PONG
        comes after those messages went to ``on_message``. Readers arriving in one loop
        turn share one PING."""
        if not self._healthy or self._pubsub is None:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._barrier_next.append(waiter)
        if not self._barrier_scheduled:
            self._barrier_scheduled = True
            loop.call_soon(self._send_barrier)
        return await waiter

    def _send_barrier(self) -> None:
        self._barrier_scheduled = False
        waiters, self._barrier_next = self._barrier_next, []
        pubsub = self._pubsub
        if not waiters:
            return
        if pubsub is None or not self._healthy:
            _settle(waiters, False)
            return
        self._barrier_count += 1
        number = self._barrier_count
        self._barrier_out[number] = waiters
        asyncio.get_running_loop().call_later(BARRIER_TIMEOUT_S, self._barrier_done, number, False)
        task = asyncio.ensure_future(pubsub.ping(BARRIER_PREFIX + b"%d" % number))
        # A failed send: the read loop sees the broken connection; the timer answers.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _barrier_done(self, number: int, passed: bool) -> None:
        waiters = self._barrier_out.pop(number, None)
        if waiters is not None:
            _settle(waiters, passed)

    def _on_pong(self, data: object) -> None:
        if isinstance(data, str):
            data = data.encode()
        if isinstance(data, bytes) and data.startswith(BARRIER_PREFIX):
            with contextlib.suppress(ValueError):
                self._barrier_done(int(data[len(BARRIER_PREFIX) :]), True)

    def _fail_barriers(self) -> None:
        out, self._barrier_out = self._barrier_out, {}
        for waiters in out.values():
            _settle(waiters, False)

    async def _run(self) -> None:
        backoff = Backoff()
        lost = False
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._lock:
                    await pubsub.subscribe(self._control, *self._channels)
                    self._pubsub = pubsub
                    self._healthy = True
                if lost:
                    self.reconnects += 1
                    log.warning(
                        "redis broker reconnected to %s; resyncing from the store", self._safe_url
                    )
                    self.on_resync()
                else:
                    log.info("redis broker connected to %s", self._safe_url)
                backoff.reset()
                lost = False
                await self._read(pubsub)
            except asyncio.CancelledError:
                self._healthy = False
                self._fail_barriers()
                await self._close(pubsub)
                raise
            except (RedisError, OSError) as exc:
                if not lost:
                    log.warning(
                        "redis broker lost its connection to %s (%s); reconnecting",
                        self._safe_url,
                        exc,
                    )
                lost = True
            self._healthy = False
            self._pubsub = None
            self._fail_barriers()
            await self._close(pubsub)
            await backoff.wait()

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            if message is None:
                continue
            if message.get("type") != "message":
                if message.get("type") == "pong":
                    self._on_pong(message.get("data"))
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            # Also drops what was in flight when the channel was unsubscribed: once
            # unsubscribe() returns, the channel is silent, as with the memory broker.
            if channel not in self._channels:
                continue
            self.on_message(channel, message["data"])

    @staticmethod
    async def _close(pubsub: PubSub) -> None:
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    @property
    def _safe_url(self) -> str:
        # Never log a password embedded in the URL.
        return safe_url(self.url)


def _settle(waiters: list[asyncio.Future[bool]], passed: bool) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(passed)
