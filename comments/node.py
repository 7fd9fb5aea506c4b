"""One node (or one worker): builds its parts from settings, starts them, stops them.

The parts are passed to each other through their constructors; the use cases
(:class:`Posting`, :class:`Reporting`, :class:`Liking`, :class:`Decider`,
:class:`Reviewing`) get exactly the parts they use. The web layer reaches them through
the node in the app's lifespan state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from redis.exceptions import RedisError

from comments.infra.broker import Broker, create_broker
from comments.infra.ratelimit import RateLimiter, create_limiter
from comments.infra.read_cache import ReadCache
from comments.integrations.delivery import Deliverer, delivery_policy
from comments.integrations.mail_sender import MailPolicy, MailSender, mail_policy
from comments.live.counts import LiveCounts
from comments.live.feed import ModerationFeed
from comments.live.hub import Hub
from comments.moderation.decide import Decider
from comments.moderation.edit import Editing
from comments.moderation.liking import Liking
from comments.moderation.networks import NetworkKeys
from comments.moderation.report import Reporting
from comments.moderation.review import Reviewing
from comments.moderation.submit import Posting
from comments.observability.metrics import Metrics
from comments.scoring.queue import Dispatcher, ScoringStream
from comments.scoring.scorer import Scorer
from comments.settings import Settings
from comments.sites import SiteCache
from comments.store import Store, create_store
from comments.store.edits import EditStore
from comments.store.log_retention import trim_logs
from comments.store.mail import MailStore
from comments.store.reactions import ReactionStore
from comments.store.retention import purge_personal_data
from comments.store.review import ReviewStore
from comments.store.threads import ThreadStore
from comments.store.webhooks import WebhookStore

log = logging.getLogger("comments.node")

Role = Literal["node", "worker"]
# How often bans past their time are ended (their network keys deleted).
BAN_SWEEP_S = 60.0


@dataclass
class Node:
    settings: Settings
    store: Store
    broker: Broker
    hub: Hub
    feed: ModerationFeed
    sites: SiteCache
    review: ReviewStore
    limiter: RateLimiter
    metrics: Metrics
    decider: Decider
    posting: Posting
    reviewing: Reviewing
    reporting: Reporting
    networks: NetworkKeys
    editing: Editing
    liking: Liking
    threads: ThreadStore
    # Live counts (count.js): the articles this node's count sockets follow.
    counts: LiveCounts
    # Set on a node with COMMENTS_SCORING=workers: posts are scored by `comments worker`.
    dispatcher: Dispatcher | None = None
    sockets_per_ip: dict[str, int] = field(default_factory=dict)
    # Anonymous reads' encoded answers (comments.web.cached_reads); budget from settings.
    read_cache: ReadCache = field(default_factory=lambda: ReadCache(0))
    _recovery: asyncio.Task[None] | None = None
    _sweeper: asyncio.Task[None] | None = None
    deliverer: Deliverer | None = None
    _delivery: asyncio.Task[None] | None = None
    # Reply e-mails (None: COMMENTS_SMTP_URL unset, the feature is off).
    mail: MailSender | None = None
    _mailing: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings, *, role: Role = "node") -> Node:
        """A node's parts, or a worker's (``role="worker"``: it scores, whatever
        COMMENTS_SCORING says, and runs the recovery pass for the nodes)."""
        metrics = Metrics()
        store = create_store(settings.database_url)
        broker = create_broker(settings.broker_url)
        hub = Hub(
            store,
            broker,
            channel_prefix=settings.channel_prefix,
            queue_limit=settings.socket_queue_events,
            gap_wait_s=settings.gap_wait_s,
            resync_interval_s=settings.resync_interval_s,
            # Events a fan-out wrote straight to sockets are counted by the hub.
            delivered=metrics.events_delivered.inc,
            watch_limit=settings.read_cache_watch_max,
        )
        review = ReviewStore(store)
        feed = ModerationFeed(broker, settings.channel_prefix, sessions=review.active_moderators)
        dispatcher: Dispatcher | None = None
        if role == "node" and settings.scoring == "workers":
            stream = ScoringStream(settings.broker_url, settings.channel_prefix)
            dispatcher = Dispatcher(stream, settings.channel_prefix)
        _route_broker(broker, hub, feed, dispatcher)
        if dispatcher is not None:
            # Scoring happens in the workers: this node loads no model.
            scorer = Scorer(
                None,
                "posts are scored by `comments worker` processes",
                spec="workers",
                latency=metrics.scoring_seconds,
            )
        else:
            scorer = Scorer.from_settings(settings, latency=metrics.scoring_seconds)
        sites = SiteCache(store, settings.site_cache_s)
        networks = NetworkKeys()
        # Shared through Redis when the nodes share a Redis broker.
        limiter = create_limiter(settings.broker_url, settings.channel_prefix)
        decider = Decider(
            store=store,
            review=review,
            sites=sites,
            scorer=scorer,
            hub=hub,
            feed=feed,
            metrics=metrics,
            dispatcher=dispatcher,
            worker_timeout_s=settings.worker_timeout_s,
        )
        return cls(
            settings=settings,
            read_cache=ReadCache(settings.read_cache_bytes),
            store=store,
            broker=broker,
            hub=hub,
            feed=feed,
            sites=sites,
            review=review,
            limiter=limiter,
            metrics=metrics,
            decider=decider,
            posting=Posting(
                store=store,
                review=review,
                limiter=limiter,
                decider=decider,
                hub=hub,
                metrics=metrics,
                networks=networks,
            ),
            reviewing=Reviewing(store=store, review=review, hub=hub, feed=feed),
            reporting=Reporting(
                store=store,
                review=review,
                limiter=limiter,
                feed=feed,
                metrics=metrics,
                networks=networks,
            ),
            networks=networks,
            editing=Editing(
                store=store,
                edits=EditStore(store),
                review=review,
                limiter=limiter,
                decider=decider,
                hub=hub,
                metrics=metrics,
            ),
            liking=Liking(
                reactions=ReactionStore(store), limiter=limiter, hub=hub, metrics=metrics
            ),
            threads=ThreadStore(store),
            counts=LiveCounts(store, hub),
            dispatcher=dispatcher,
        )

    @property
    def scorer(self) -> Scorer:
        """The classifier's door; the decider owns it (one owner, so one to replace)."""
        return self.decider.scorer

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.store.migrate()
        await self.load_secret()
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
        self._sweeper = asyncio.create_task(self._sweep_bans_forever(), name="ban-sweeper")
        self.deliverer = Deliverer(WebhookStore(self.store), delivery_policy(self.settings))
        self._delivery = asyncio.create_task(self.deliverer.run_forever(), name="webhooks")
        policy = mail_policy(self.settings)
        if policy is not None:
            await self.start_mail(policy)

    async def start_mail(self, policy: MailPolicy) -> None:
        """Reply e-mails on: publications write mail rows, and this node sends them."""
        secret = self.settings.secret_key or await self.store.shared_secret("mail_key")
        self.store.mail_digest_s = self.settings.mail_digest_s
        self.mail = MailSender(MailStore(self.store), policy, secret.encode())
        self._mailing = asyncio.create_task(self.mail.run_forever(), name="mail")

    async def load_secret(self) -> None:
        """The network-key secret: COMMENTS_SECRET_KEY, else the one the first node
        generated and kept in the database (every node must hash alike)."""
        secret = self.settings.secret_key
        if not secret:
            secret = await self.store.shared_secret("network_key")
        self.networks.set_secret(secret.encode())

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
        await self.liking.close()  # the likes queued are written while the store is open
        for task in (self._recovery, self._sweeper, self._delivery, self._mailing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.deliverer is not None:
            await self.deliverer.close()
        await self.feed.close()
        await self.counts.stop()
        await self.hub.stop()
        await self.scorer.close()
        await self.limiter.close()
        if self.dispatcher is not None:
            await self.dispatcher.stream.close()
        await self.store.close()

    async def _recover_forever(self) -> None:
        """Decide comments a dead node left pending; re-score those held while the
        classifier was away. First at start-up, then every recover_interval_s."""
        # A post in flight takes at most the classifier timeout; older pending comments
        # were abandoned.
        abandoned = timedelta(seconds=self.settings.classifier_timeout_s * 2 + 5)
        while True:
            try:
                await self.scorer.retry_load()
                changed = await self.decider.recover(pending_after=abandoned)
                if changed:
                    log.info("recovery decided %d comment(s)", changed)
            except Exception:
                log.exception("recovery pass failed; retrying")
            await asyncio.sleep(self.settings.recover_interval_s)

    async def _sweep_bans_forever(self) -> None:
        """End bans whose time is up, so their network keys do not outlive them (a ban
        past its time refuses nothing meanwhile: every check compares ``until``); forget
        expired personal data and trim the delivery logs. Each step reads before it
        writes: an idle node takes no write transaction."""
        while True:
            try:
                ended = await self.review.purge_expired_bans()
                if ended:
                    log.info("%d ban(s) ended; their network keys are deleted", ended)
            except Exception:
                log.exception("ending expired bans failed; retrying")
            try:  # GDPR retention: reporters' identities and network keys expire
                days = timedelta(days=self.settings.personal_data_retention_days)
                await purge_personal_data(self.store, datetime.now(UTC) - days)
            except Exception:
                log.exception("purging expired personal data failed; retrying")
            try:  # the webhook and reply-mail delivery logs
                now = datetime.now(UTC)
                settings = self.settings
                trimmed = await trim_logs(
                    self.store,
                    messages_before=now - timedelta(days=settings.webhook_log_retention_days),
                    mails_before=now - timedelta(days=settings.mail_log_retention_days),
                )
                if trimmed.messages or trimmed.mails:
                    log.info(
                        "delivery logs trimmed: %d webhook message(s), %d mail row(s)",
                        trimmed.messages,
                        trimmed.mails,
                    )
            except Exception:
                log.exception("trimming the delivery logs failed; retrying")
            await asyncio.sleep(BAN_SWEEP_S)


def _route_broker(
    broker: Broker, hub: Hub, feed: ModerationFeed, dispatcher: Dispatcher | None
) -> None:
    """One broker connection serves all: moderation channels go to the feed, scoring
    answers to the dispatcher, the rest to the hub, which also catches up after a lost
    connection."""

    def route(channel: str, data: bytes) -> None:
        if feed.owns(channel):
            feed.on_message(channel, data)
        elif dispatcher is not None and dispatcher.owns(channel):
            dispatcher.on_reply(channel, data)
        else:
            hub.on_message(channel, data)

    broker.set_handlers(route, hub.on_resync)
