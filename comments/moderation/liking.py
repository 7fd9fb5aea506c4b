"""Reader use case: like a comment, or stop liking it (docs/api.md, "Reactions").

Likes have rate limits of their own, per client address and per reader
(``likes_per_minute_per_ip``, ``likes_per_minute_per_reader``): a reader who likes a few
comments keeps their whole posting budget, and one who posts keeps their likes.
"""

from __future__ import annotations

from comments.errors import Code, Refused
from comments.infra.ratelimit import RateLimiter
from comments.live.hub import Hub
from comments.models import Author
from comments.observability.metrics import Metrics
from comments.sites import Site
from comments.store.reactions import Reacted, ReactionStore


class Liking:
    def __init__(
        self, *, reactions: ReactionStore, limiter: RateLimiter, hub: Hub, metrics: Metrics
    ) -> None:
        self.reactions = reactions
        self.limiter = limiter
        self.hub = hub
        self.metrics = metrics

    async def limit_address(self, site: Site, client_ip: str) -> None:
        """Count a like (or unlike) against its address's limit, first of all, as a
        post's address limit is: an address flooding likes is refused before any lookup.

        Raises:
            Refused: ``rate_limited``.
        """
        limit = int(site.settings["likes_per_minute_per_ip"])
        wait = await self.limiter.hit(f"like-ip:{site.slug}:{client_ip}", limit)
        if wait is not None:
            self.metrics.rate_limited.inc(limit="like_ip")
            raise _rate_limited(wait)

    async def react(
        self, site: Site, article: str, comment_id: str, author: Author, like: bool
    ) -> Reacted:
        """Add (``like``) or drop ``author``'s like; open pages get the new count.

        A shadow-banned reader is limited and answered as anyone else, so nothing tells
        them apart; their like changes no public count and sends no frame.

        Raises:
            Refused: ``rate_limited`` (the reader's limit), ``not_found`` (no such
                published comment under this article), ``banned`` (an open ban).
        """
        limit = int(site.settings["likes_per_minute_per_reader"])
        wait = await self.limiter.hit(f"like-reader:{author.id}", limit)
        if wait is not None:
            self.metrics.rate_limited.inc(limit="like_reader")
            raise _rate_limited(wait)
        done = await self.reactions.react(site.slug, article, comment_id, author.id, like)
        if done is None:
            raise Refused(Code.NOT_FOUND, "no such published comment")
        if done.banned:
            raise Refused(Code.BANNED, "this reader is banned from this site")
        if done.version is not None:  # counted: open pages get the count, coalesced
            self.hub.publish_like(site.slug, article, comment_id, done.reactions, done.version)
        return done


def _rate_limited(wait: float) -> Refused:
    return Refused(Code.RATE_LIMITED, "too many likes; try again shortly", retry_after_s=wait)
