"""Scoring jobs on a Redis Stream: how nodes hand comments to ``comments worker``.

With ``COMMENTS_SCORING=workers`` a node stores a post as pending, adds its id to the
stream ``{prefix}:scoring`` and waits for a worker's answer on the node's own reply
channel (``{prefix}:scored:{node}``) — or, should that message be lost, for the
database to show the comment decided. A job is only a hint: the comment row is the
truth, and deciding is a conditional update, so a job delivered twice (a worker that
died before its XACK, a node that gave up and held the comment) publishes at most once.

Workers share one consumer group (``scorers``): each job goes to one worker; a job left
unacknowledged for ``COMMENTS_WORKER_CLAIM_IDLE_S`` is taken over with XAUTOCLAIM. Live
workers keep a heartbeat in the sorted set ``{prefix}:scoring:workers`` so nodes can
report on ``/readyz`` whether anyone is scoring.

Redis may be a Redis Cluster (comments/infra/redis_client.py). Every command and every MULTI
here names one key, so the stream and the heartbeat set need not share a slot and keep
the names they have on one server; the stream, and so all scoring traffic, lives on the
master of its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from redis.exceptions import RedisError, ResponseError

from comments.infra import redis_client
from comments.infra.broker import BrokerUnavailable

log = logging.getLogger("comments.scoring_queue")

GROUP = "scorers"
# Bounded: a backlog beyond this (workers gone for a long time) is trimmed, and the
# comments it named are found again by the workers' recovery pass (held, unscored).
STREAM_MAX = 100_000
# A worker is alive while its heartbeat is younger than this.
HEARTBEAT_TTL_S = 15.0
HEARTBEAT_EVERY_S = 5.0
# While waiting for a worker, how often a node also looks at the database itself.
POLL_S = 0.5


def stream_key(prefix: str) -> str:
    return f"{prefix}:scoring"


def workers_key(prefix: str) -> str:
    return f"{prefix}:scoring:workers"


P = ParamSpec("P")
T = TypeVar("T")


def _on_redis(
    method: Callable[Concatenate[ScoringStream, P], Awaitable[T]],
) -> Callable[Concatenate[ScoringStream, P], Coroutine[Any, Any, T]]:
    """What a method of ScoringStream needs to run on a cluster as on one server: the
    slot map known first, and a cluster out of reach raised as a RedisError, which the
    callers (the worker's retry loop, ``/readyz``, the node's start-up) handle as Redis
    being away."""

    @functools.wraps(method)
    async def call(stream: ScoringStream, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with redis_client.cluster_errors_as_redis_errors():
            await redis_client.ready(stream.redis)
            return await method(stream, *args, **kwargs)

    return call


def consumer_name() -> str:
    """Unique per worker process, readable in XINFO: host, pid and a random tag."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Job:
    """One stream entry: score ``comment`` and tell ``reply`` (a channel) when done."""

    entry: str
    comment: str
    reply: str


class ScoringStream:
    """The stream and its consumer group, as nodes and workers both use them."""

    def __init__(self, url: str, prefix: str) -> None:
        """``url`` names one Redis or a Redis Cluster."""
        self.key = stream_key(prefix)
        self.workers = workers_key(prefix)
        self.redis = redis_client.connect(
            url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=5
        )

    async def close(self) -> None:
        await self.redis.aclose()

    @_on_redis
    async def ensure_group(self) -> None:
        """Create the group at the stream's start, so jobs added before the first worker
        came up are still read. Both nodes and workers call it; the first one wins."""
        try:
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def add(self, comment_id: str, reply: str) -> None:
        """Queue one comment for scoring.

        Raises:
            BrokerUnavailable: Redis could not take the job.
        """
        try:
            await self._add(comment_id, reply)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise BrokerUnavailable(str(exc)) from exc
            # Redis lost the group (a restart without persistence): make it again.
            try:
                await self.ensure_group()
                await self._add(comment_id, reply)
            except (RedisError, OSError) as again:
                raise BrokerUnavailable(str(again)) from again
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    @_on_redis
    async def _add(self, comment_id: str, reply: str) -> None:
        await self.redis.xadd(
            self.key,
            {"comment": comment_id, "reply": reply},
            maxlen=STREAM_MAX,
            approximate=True,
        )

    @_on_redis
    async def read(self, consumer: str, count: int, block_ms: int) -> list[Job]:
        """New jobs for this consumer (XREADGROUP ``>``), waiting up to ``block_ms``."""
        try:
            answer = await self.redis.xreadgroup(
                GROUP, consumer, {self.key: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        jobs: list[Job] = []
        streams: list[Any] = list(answer or [])  # RESP2: [[stream, [(id, fields), …]]]
        for _stream, entries in streams:
            jobs.extend(_job(entry, fields) for entry, fields in entries)
        return jobs

    @_on_redis
    async def claim(self, consumer: str, idle_s: float, count: int) -> list[Job]:
        """Jobs another worker took and left unacknowledged for ``idle_s`` (it died or
        hangs), now this consumer's (XAUTOCLAIM)."""
        try:
            answer = await self.redis.xautoclaim(
                self.key, GROUP, consumer, int(idle_s * 1000), start_id="0-0", count=count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        # [next start, [(id, fields), …], [deleted ids]]; a trimmed entry comes back as
        # None fields and is dropped from the pending list by Redis itself.
        return [_job(entry, fields) for entry, fields in answer[1] if fields]

    @_on_redis
    async def ack(self, jobs: list[Job]) -> None:
        """Done with these: acknowledged and removed, so the stream holds only work."""
        if not jobs:
            return
        ids = [job.entry for job in jobs]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            await pipe.execute()

    @_on_redis
    async def heartbeat(self, consumer: str) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.workers, {consumer: now})
            pipe.zremrangebyscore(self.workers, "-inf", now - HEARTBEAT_TTL_S)
            await pipe.execute()

    @_on_redis
    async def leave(self, consumer: str) -> None:
        """A worker stopping cleanly: no longer counted, and forgotten by the group when
        it holds no job (a worker that holds some leaves them to be claimed)."""
        await self.redis.zrem(self.workers, consumer)
        pending = await self.redis.xpending_range(
            self.key, GROUP, min="-", max="+", count=1, consumername=consumer
        )
        if not pending:
            await self.redis.xgroup_delconsumer(self.key, GROUP, consumer)

    @_on_redis
    async def live_workers(self) -> int:
        return int(await self.redis.zcount(self.workers, time.time() - HEARTBEAT_TTL_S, "+inf"))

    @_on_redis
    async def backlog(self) -> int:
        """Jobs in the stream: waiting for a worker or being scored."""
        return int(await self.redis.xlen(self.key))


def _job(entry: bytes | str, fields: dict[bytes, bytes]) -> Job:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    values = {text(k): text(v) for k, v in fields.items()}
    return Job(entry=text(entry), comment=values.get("comment", ""), reply=values.get("reply", ""))


class Dispatcher:
    """A node's side: queue a comment, then wait for its decision (or give up)."""

    def __init__(self, stream: ScoringStream, prefix: str) -> None:
        self.stream = stream
        self.reply_channel = f"{prefix}:scored:{secrets.token_hex(8)}"
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def owns(self, channel: str) -> bool:
        return channel == self.reply_channel

    def on_reply(self, channel: str, data: bytes) -> None:
        future = self._waiting.get(data.decode(errors="replace"))
        if future is not None and not future.done():
            future.set_result(None)

    async def dispatch(
        self, comment_id: str, timeout_s: float, decided: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Queue ``comment_id`` and wait until a worker decided it; False when no worker
        answered within ``timeout_s`` or Redis would not take the job.

        ``decided`` reads the database: the answer on the reply channel is a fast path,
        not the only one, since pub/sub may drop it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting[comment_id] = future
        deadline = loop.time() + timeout_s
        try:
            try:
                await self.stream.add(comment_id, self.reply_channel)
            except BrokerUnavailable as exc:
                log.warning("cannot queue comment %s for scoring: %s", comment_id, exc)
                return False
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    return await decided()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), min(left, POLL_S))
                    return True
                if await decided():
                    return True
        finally:
            self._waiting.pop(comment_id, None)
