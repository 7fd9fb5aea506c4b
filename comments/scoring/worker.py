"""``comments worker``: scores the comments nodes queue on the Redis Stream.

A worker loads the configured classifier once (after any fork, in its own process),
then loops: take back jobs a dead worker left (XAUTOCLAIM), read new ones in batches
(XREADGROUP COUNT), decide them all at once — so the micro-batcher scores them as one
batch — and acknowledge them (XACK) only once their decisions are stored. A worker that
dies mid-batch leaves its jobs pending; another claims them. Deciding is a conditional
update, so a job that runs twice still publishes its comment at most once.

Workers also run the recovery pass that nodes run when they score themselves: pending
comments a dead node left, and comments held unscored (no worker answered in time, the
classifier was away, or Redis lost the stream) are decided from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from redis.exceptions import RedisError

from comments.infra.broker import Broker, BrokerUnavailable
from comments.models import Status
from comments.moderation.decide import Decider
from comments.node import Node
from comments.scoring.queue import HEARTBEAT_EVERY_S, Job, ScoringStream, consumer_name
from comments.settings import WORKER_BROKERS, Settings
from comments.store.review import ReviewStore

log = logging.getLogger("comments.worker")

READ_BLOCK_MS = 1000
BACKOFF_MAX_S = 5.0


class Worker:
    def __init__(
        self,
        *,
        decider: Decider,
        review: ReviewStore,
        broker: Broker,
        stream: ScoringStream,
        batch: int,
        claim_idle_s: float,
        name: str | None = None,
    ) -> None:
        self.decider = decider
        self.review = review
        self.broker = broker
        self.stream = stream
        self.name = name or consumer_name()
        self.batch = batch
        self.claim_idle_s = claim_idle_s
        self.scored = 0  # jobs handled, for logs and tests
        self._next_heartbeat = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; the batch in hand is finished and acknowledged."""
        backoff = 0.1
        log.info("worker %s scoring with %s", self.name, self.decider.scorer.spec)
        while not stop.is_set():
            try:
                await self.step()
                backoff = 0.1
            except (RedisError, OSError, BrokerUnavailable) as exc:
                log.warning("worker %s: redis unavailable (%s); retrying", self.name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        with contextlib.suppress(RedisError, OSError):
            await self.stream.leave(self.name)
        log.info("worker %s stopped after %d job(s)", self.name, self.scored)

    async def step(self) -> int:
        """One round: claim or read a batch, decide it, acknowledge it. Returns its size."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_heartbeat:
            await self.stream.ensure_group()
            await self.stream.heartbeat(self.name)
            self._next_heartbeat = loop.time() + HEARTBEAT_EVERY_S
        jobs = await self.stream.claim(self.name, self.claim_idle_s, self.batch)
        if jobs:
            log.warning("worker %s took over %d job(s) left by another", self.name, len(jobs))
        else:
            jobs = await self.stream.read(self.name, self.batch, READ_BLOCK_MS)
        if not jobs:
            return 0
        outcomes = await asyncio.gather(
            *(self._handle(job) for job in jobs), return_exceptions=True
        )
        done = [job for job, outcome in zip(jobs, outcomes, strict=True) if outcome is None]
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # Left unacknowledged: claimed again (here or elsewhere) after the idle time.
                log.warning("worker %s: job for %s failed: %r", self.name, job.comment, outcome)
        await self.stream.ack(done)
        self.scored += len(done)
        for job in done:
            if job.reply:
                with contextlib.suppress(BrokerUnavailable):
                    await self.broker.publish(job.reply, job.comment.encode())
        return len(jobs)

    async def _handle(self, job: Job) -> None:
        item = await self.review.item(job.comment)
        if item is None:
            return  # deleted, or a job naming nothing: nothing to do
        comment = item.comment
        if comment.status is Status.PENDING:
            await self.decider.decide(comment)
        elif comment.status is Status.HELD and item.unscored:
            # The node gave up waiting and held it; a real score may publish it now.
            await self.decider.decide(comment, rescoring=True)
        # Anything else was decided already (a job delivered twice): acknowledged as done.


def worker_of(node: Node, stream: ScoringStream) -> Worker:
    """A worker with the parts of ``node`` (built with ``role="worker"``)."""
    return Worker(
        decider=node.decider,
        review=node.review,
        broker=node.broker,
        stream=stream,
        batch=node.settings.classifier_batch_size,
        claim_idle_s=node.settings.worker_claim_idle_s,
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """The ``comments worker`` process: until SIGTERM or SIGINT, or ``stop`` is set."""
    if not settings.broker_url.startswith(WORKER_BROKERS):
        raise ValueError("a worker takes its jobs from Redis: set COMMENTS_REDIS_URL")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    node = Node.build(settings, role="worker")
    stream = ScoringStream(settings.broker_url, settings.channel_prefix)
    await node.start()
    try:
        await worker_of(node, stream).run(stop)
    finally:
        await stream.close()
        await node.stop()
    return 0
