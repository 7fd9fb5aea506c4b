"""The resources one node runs with, built at start-up and carried in lifespan state."""

from __future__ import annotations

from dataclasses import dataclass, field

from comments.broker import Broker, create_broker
from comments.hub import Hub
from comments.ratelimit import RateLimiter
from comments.settings import Settings
from comments.sites import SiteCache
from comments.store import Store, create_store


@dataclass
class Services:
    settings: Settings
    store: Store
    broker: Broker
    hub: Hub
    sites: SiteCache
    limiter: RateLimiter = field(default_factory=RateLimiter)
    sockets_per_ip: dict[str, int] = field(default_factory=dict)

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
        return cls(
            settings=settings,
            store=store,
            broker=broker,
            hub=hub,
            sites=SiteCache(store, settings.site_cache_s),
        )

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.store.migrate()
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.store.close()
