"""The resources one node runs with, built at start-up and carried in lifespan state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from comments.broker import Broker, create_broker
from comments.feed import ModerationFeed
from comments.hub import Hub
from comments.metrics import Metrics
from comments.ratelimit import RateLimiter
from comments.scoring import Scorer
from comments.settings import Settings
from comments.sites import SiteCache
from comments.store import Store, create_store
from comments.store.review import ReviewStore

log = logging.getLogger("comments.services")


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
    limiter: RateLimiter = field(default_factory=RateLimiter)
    metrics: Metrics = field(default_factory=Metrics)
    sockets_per_ip: dict[str, int] = field(default_factory=dict)
    _recovery: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
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
        # One broker connection serves both: moderation channels go to the feed.
        to_hub, resync = broker.on_message, broker.on_resync

        def route(channel: str, data: bytes) -> None:
            (feed.on_message if feed.owns(channel) else to_hub)(channel, data)

        broker.set_handlers(route, resync)
        metrics = Metrics()
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
            metrics=metrics,
        )

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.store.migrate()
        await self.scorer.load()
        await self.hub.start()
        if self.settings.recover_interval_s > 0:
            self._recovery = asyncio.create_task(self._recover_forever(), name="recovery")

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        await self.hub.stop()
        await self.scorer.close()
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
