"""The resources one node runs with, built at start-up and carried in lifespan state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from redis.exceptions import RedisError

from comments.broker import Broker, create_broker
from comments.feed import ModerationFeed
from comments.hub import Hub
from comments.metrics import Metrics
from comments.ratelimit import RateLimiter, create_limiter
from comments.ratelimit.memory import MemoryRateLimiter
from comments.scoring import Scorer
from comments.scoring_queue import Dispatcher, ScoringStream
from comments.settings import Settings
from comments.sites import SiteCache
from comments.store import Store, create_store
from comments.store.review import ReviewStore

log = logging.getLogger("comments.services")

Role = Literal["node", "worker"]


@dataclass
class Services:
    settings: Settings
    store: Store
    broker: Broker
    hub: Hub
    feed: ModerationFeed
    sites: SiteCache
    review: ReviewStore
    scorer: Scorer
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    metrics: Metrics = field(default_factory=Metrics)
    sockets_per_ip: dict[str, int] = field(default_factory=dict)
    # Set on a node with COMMENTS_SCORING=workers: posts are scored by `comments worker`.
    dispatcher: Dispatcher | None = None
    _recovery: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        # Events a fan-out wrote straight to sockets are counted by the hub, per fan-out.
        self.hub.delivered = self.metrics.events_delivered.inc

    @classmethod
    def build(cls, settings: Settings, *, role: Role = "node") -> Services:
        """A node's resources, or a worker's (``role="worker"``: it scores, whatever
        COMMENTS_SCORING says, and runs the recovery pass for the nodes)."""
        store = create_store(settings.database_url)
        broker = create_broker(settings.broker_url)
        hub = Hub(
            store,
            broker,
            channel_prefix=settings.channel_prefix,
            queue_limit=settings.socket_queue_events,
            gap_wait_s=settings.gap_wait_s,
            resync_interval_s=settings.resync_interval_s,
        )
        feed = ModerationFeed(broker, settings.channel_prefix)
        dispatcher: Dispatcher | None = None
        if role == "node" and settings.scoring == "workers":
            stream = ScoringStream(settings.broker_url, settings.channel_prefix)
            dispatcher = Dispatcher(stream, settings.channel_prefix)
        # One broker connection serves all: moderation channels go to the feed, scoring
        # answers to the dispatcher, the rest to the hub.
        to_hub, resync = broker.on_message, broker.on_resync

        def route(channel: str, data: bytes) -> None:
            if feed.owns(channel):
                feed.on_message(channel, data)
            elif dispatcher is not None and dispatcher.owns(channel):
                dispatcher.on_reply(channel, data)
            else:
                to_hub(channel, data)

        broker.set_handlers(route, resync)
        metrics = Metrics()
        if dispatcher is not None:
            # Scoring happens in the workers: this node loads no model.
            scorer = Scorer(None, "posts are scored by `comments worker` processes")
            scorer.spec = "workers"
        else:
            scorer = Scorer.from_settings(settings)
        scorer.latency = metrics.scoring_seconds
        return cls(
            settings=settings,
            store=store,
            broker=broker,
            hub=hub,
            feed=feed,
            sites=SiteCache(store, settings.site_cache_s),
            review=ReviewStore(store),
            scorer=scorer,
            # Shared through Redis when the nodes share a Redis broker.
            limiter=create_limiter(settings.broker_url, settings.channel_prefix),
            metrics=metrics,
            dispatcher=dispatcher,
        )

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.store.migrate()
        await self.scorer.load()
        await self.hub.start()
        if self.dispatcher is not None:
            await self.broker.subscribe(self.dispatcher.reply_channel)
            with contextlib.suppress(RedisError, OSError):
                # Redis away: posts are held until it is back; the group is made then.
                await self.dispatcher.stream.ensure_group()
        # With workers, the recovery pass is theirs: they hold the classifier.
        if self.settings.recover_interval_s > 0 and self.dispatcher is None:
            self._recovery = asyncio.create_task(self._recover_forever(), name="recovery")

    async def classifier_status(self) -> dict[str, str]:
        """What ``/readyz`` says about scoring: the model here, or the workers."""
        if self.dispatcher is None:
            return self.scorer.status().to_dict()
        stream = self.dispatcher.stream
        try:
            alive = await asyncio.wait_for(stream.live_workers(), 2.0)
            backlog = await asyncio.wait_for(stream.backlog(), 2.0)
        except (TimeoutError, RedisError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            return {"name": "workers", "state": "failed", "detail": f"redis: {detail}"}
        return {
            "name": "workers",
            "state": "ok" if alive else "failed",
            "detail": f"{alive} worker(s) alive, {backlog} job(s) queued",
        }

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        await self.hub.stop()
        await self.scorer.close()
        await self.limiter.close()
        if self.dispatcher is not None:
            await self.dispatcher.stream.close()
        await self.store.close()

    async def _recover_forever(self) -> None:
        """Decide comments a dead node left pending; re-score those held while the
        classifier was away. First at start-up, then every recover_interval_s."""
        from comments.moderation import recover

        # A post in flight takes at most the classifier timeout; older pending comments
        # were abandoned.
        abandoned = timedelta(seconds=self.settings.classifier_timeout_s * 2 + 5)
        while True:
            try:
                await self.scorer.retry_load()
                changed = await recover(self, pending_after=abandoned)
                if changed:
                    log.info("recovery decided %d comment(s)", changed)
            except Exception:
                log.exception("recovery pass failed; retrying")
            await asyncio.sleep(self.settings.recover_interval_s)
