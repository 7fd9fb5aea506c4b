"""Reader use case: like a comment, or stop liking it (docs/api.md, "Reactions").

Likes have rate limits of their own, per client address and per reader
(``likes_per_minute_per_ip``, ``likes_per_minute_per_reader``): a reader who likes a few
comments keeps their whole posting budget, and one who posts keeps their likes.
"""

from __future__ import annotations

from collections.abc import Sequence

from comments.errors import Code, Refused
from comments.infra.group_commit import GroupCommit
from comments.infra.ratelimit import RateLimiter
from comments.live.hub import Hub
from comments.models import Author
from comments.observability.metrics import Metrics
from comments.sites import Site
from comments.store.reactions import LikeRequest, Reacted, ReactionStore
from comments.store.store import StoreUnavailable, hash_token, is_conflict


class Liking:
    def __init__(
        self, *, reactions: ReactionStore, limiter: RateLimiter, hub: Hub, metrics: Metrics
    ) -> None:
        self.reactions = reactions
        self.limiter = limiter
        self.hub = hub
        self.metrics = metrics
        # Likes that arrive while a batch is written share the next transaction: a storm
        # on one comment is one count update a batch (docs/benchmarks.md, "Reactions").
        # A database outage fails the whole batch at once (503), not each like again; a
        # batch that lost to another transaction (a deadlock) is written again like by like.
        self.batches: GroupCommit[LikeRequest, Reacted | None] = GroupCommit(
            self._write,
            shared_errors=lambda exc: isinstance(exc, StoreUnavailable) and not is_conflict(exc),
            stopped=lambda: StoreUnavailable("this node is stopping; try again"),
        )

    async def close(self) -> None:
        """Write the likes queued, then refuse more (a 503 each)."""
        await self.batches.close()

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
        await self._limit_reader(site, author.id)
        return self._answer(
            await self.batches.submit(LikeRequest(site.slug, article, comment_id, author.id, like))
        )

    async def react_as_guest(
        self, site: Site, article: str, comment_id: str, token: str, like: bool
    ) -> Reacted:
        """As :meth:`react`, for the guest whose token this is: the guest is looked up in
        the like's batch (one query for all its guests, not one per like). The reader's
        limit is kept per token, which names one guest.

        Raises:
            Refused: as :meth:`react`, and ``invalid_guest_token``.
        """
        digest = hash_token(token)
        await self._limit_reader(site, f"guest:{digest}")
        return self._answer(
            await self.batches.submit(
                LikeRequest(site.slug, article, comment_id, "", like, guest_hash=digest)
            )
        )

    async def _limit_reader(self, site: Site, reader: str) -> None:
        limit = int(site.settings["likes_per_minute_per_reader"])
        wait = await self.limiter.hit(f"like-reader:{reader}", limit)
        if wait is not None:
            self.metrics.rate_limited.inc(limit="like_reader")
            raise _rate_limited(wait)

    @staticmethod
    def _answer(done: Reacted | None) -> Reacted:
        if done is None:
            raise Refused(Code.NOT_FOUND, "no such published comment")
        if done.unknown_reader:
            raise Refused(Code.INVALID_GUEST_TOKEN, "unknown guest token")
        if done.banned:
            raise Refused(Code.BANNED, "this reader is banned from this site")
        return done

    async def _write(self, requests: Sequence[LikeRequest]) -> list[Reacted | None]:
        batch = await self.reactions.react_many(requests)
        for c in batch.changed:  # open pages get each moved count once, coalesced
            self.hub.publish_like(c.site, c.article, c.comment_id, c.reactions, c.version)
        return batch.answers


def _rate_limited(wait: float) -> Refused:
    return Refused(Code.RATE_LIMITED, "too many likes; try again shortly", retry_after_s=wait)
