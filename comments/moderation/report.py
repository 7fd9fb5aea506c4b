"""Reader use case: report a published comment. At the site's ``reports_before_review``
it enters the moderators' queue, while it stays visible."""

from __future__ import annotations

from comments.errors import Code, Refused
from comments.infra.ratelimit import RateLimiter
from comments.live.feed import ModerationFeed
from comments.models import Author, Comment, Status
from comments.moderation.networks import NetworkKeys
from comments.observability.metrics import Metrics
from comments.sites import Site
from comments.store import Store
from comments.store.review import ReviewStore

# Reports a minute from one address, and from one reader (guest or signed in).
PER_MINUTE = 30


class Reporting:
    def __init__(
        self,
        *,
        store: Store,
        review: ReviewStore,
        limiter: RateLimiter,
        feed: ModerationFeed,
        metrics: Metrics,
        networks: NetworkKeys,
    ) -> None:
        self.store = store
        self.review = review
        self.limiter = limiter
        self.feed = feed
        self.metrics = metrics
        self.networks = networks

    async def reportable(self, site: Site, article: str, comment_id: str) -> Comment:
        """The published comment a reader wants to report.

        Raises:
            Refused: ``not_found``.
        """
        comment = await self.store.get_comment(comment_id)
        if (
            comment is None
            or comment.site != site.slug
            or comment.article != article
            or comment.status is not Status.PUBLISHED
        ):
            raise Refused(Code.NOT_FOUND, "no such published comment under this article")
        return comment

    async def report(
        self, site: Site, comment: Comment, author: Author | None, client_ip: str, reason: str
    ) -> None:
        """Count one report of ``comment``: one per person. A signed-in reader counts by
        identity; guests and anonymous readers by network (its key, never the address),
        so that guest identities minted by the dozen from one address count once.

        Raises:
            Refused: ``rate_limited``.
        """
        reporter = self._reporter(site, author, client_ip)
        # Per address, and per reader too: one reader may report from many addresses.
        checks = {"report": (f"report:{site.slug}:{client_ip}", PER_MINUTE)}
        if author is not None:
            checks["report_author"] = (f"report-author:{author.id}", PER_MINUTE)
        wait = await self.limiter.hit_all(checks, self._count_refusal)
        if wait is not None:
            raise Refused(
                Code.RATE_LIMITED, "too many reports; try again shortly", retry_after_s=wait
            )
        count = await self.review.add_report(comment.id, reporter.strip(), reason.strip())
        threshold = int(site.settings["reports_before_review"])
        if threshold > 0 and count == threshold:
            # Just crossed the line: the comment enters the queue, still visible meanwhile.
            item = await self.review.item(comment.id)
            if item is not None:
                self.feed.publish(site.slug, {"type": "queue.added", "item": item.to_json()})

    def _reporter(self, site: Site, author: Author | None, client_ip: str) -> str:
        if author is not None and not author.is_guest:
            return author.id
        network = self.networks.key(site.slug, client_ip)
        if network is not None:
            return f"net:{network}"
        # No address at all (not over TCP): the guest, else one shared anonymous reader.
        return author.id if author is not None else "anonymous"

    def _count_refusal(self, limit: str) -> None:
        self.metrics.rate_limited.inc(limit=limit)
