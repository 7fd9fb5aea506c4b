"""Reader use case: an author edits their comment within the site's edit window.

The new text goes through what a new post goes through (the site's banned words, the
classifier on the normalised text, the policy) via the same :class:`Decider`: clean, it
stays published and open pages get ``comment.edited``; otherwise it is withdrawn from
open pages and waits for a moderator. Fail closed: no score holds it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, timedelta

from comments.errors import Code, Conflict, Refused
from comments.infra.ratelimit import RateLimiter
from comments.live.hub import Hub
from comments.models import Author, Comment, Status, utcnow
from comments.moderation.decide import Decider
from comments.moderation.ranking import stored_risk
from comments.moderation.submit import check_content
from comments.observability.metrics import Metrics
from comments.sites import Site
from comments.store.edits import EditStore
from comments.store.review import ReviewStore
from comments.store.store import Store

#: What an edit may change: a published comment, or a shadowed one (published to its
#: author). Held ones wait for a moderator's word on the text they have.
EDITABLE = (Status.PUBLISHED, Status.SHADOWED)


def edit_window(site: Site) -> timedelta:
    """How long after posting its author may edit a comment; zero: editing is off."""
    return timedelta(seconds=int(site.settings["edit_window_s"]))


class Editing:
    def __init__(
        self,
        *,
        store: Store,
        edits: EditStore,
        review: ReviewStore,
        limiter: RateLimiter,
        decider: Decider,
        hub: Hub,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.edits = edits
        self.review = review
        self.limiter = limiter
        self.decider = decider
        self.hub = hub
        self.metrics = metrics

    async def edit(
        self, site: Site, article: str, comment_id: str, author: Author, body: str
    ) -> Comment:
        """Replace the text of ``author``'s comment with ``body`` (already trimmed and
        within the length limit). Returns the comment as it now stands: published with
        ``edited_at``, or held (or rejected) by the policy.

        Raises:
            Refused: ``not_found``, ``forbidden`` (someone else's),
                ``edit_window_closed``, ``conflict`` (not published, or changed
                meanwhile), ``closed``, ``banned``, ``banned_word``, ``rate_limited``.
        """
        current = await self.store.get_comment(comment_id)
        if (
            current is None
            or current.site != site.slug
            or current.article != article
            or current.status in (Status.PENDING, Status.DELETED)
        ):
            raise Refused(Code.NOT_FOUND, "no such comment under this article")
        if current.author.id != author.id:
            raise Refused(Code.FORBIDDEN, "only its author can edit a comment")
        window = edit_window(site)
        if not window:
            raise Refused(Code.EDIT_WINDOW_CLOSED, "this site does not allow editing comments")
        created = current.created_at
        if created.tzinfo is None:  # SQLite gives back naive UTC times
            created = created.replace(tzinfo=UTC)
        if utcnow() - created > window:
            raise Refused(
                Code.EDIT_WINDOW_CLOSED,
                f"a comment can be edited for {_duration(window)} after it is posted",
            )
        if current.status not in EDITABLE:
            raise Conflict(current, "only a published comment can be edited")
        # A closed thread is closed to changes too, not only to new comments.
        thread = await self.store.get_article(site.slug, article)
        if thread is not None and thread.closed:
            raise Refused(Code.CLOSED, "this article is closed for comments")
        state = await self.review.author_state(site.slug, author.id)
        if state.banned:
            raise Refused(Code.BANNED, "you can no longer comment on this site")
        if body == current.body:
            return current  # nothing to change, nothing to review
        check_content(site, body)
        wait = await self.limiter.hit(
            f"author:{author.id}", int(site.settings["posts_per_minute_per_author"])
        )
        if wait is not None:
            self.metrics.rate_limited.inc(limit="post_author")
            raise Refused(
                Code.RATE_LIMITED, "too many changes; try again shortly", retry_after_s=wait
            )

        proposed = replace(current, body=body)
        scores = await self.decider.scorer.score_all(self.decider.pieces(body, site))
        verdict = await self.decider.verdict(proposed, site, scores)
        to = verdict.status
        if current.status is Status.SHADOWED and to is not Status.REJECTED:
            to = Status.SHADOWED  # its author alone sees it, whatever the new text
        edited = await self.edits.apply(
            current,
            body,
            to,
            {
                "scores": json.dumps(scores or {}),
                "risk": stored_risk(scores, site.settings["thresholds"]),
                "reasons": json.dumps(verdict.reasons),
                "unscored": verdict.unscored and to is Status.HELD,
            },
        )
        if edited is None:
            now = await self.store.get_comment(comment_id)
            raise Conflict(now or current, "this comment changed meanwhile; reload it")
        if edited.event is not None:
            self.hub.publish(site.slug, article, edited.event)
        if to in (Status.HELD, Status.SHADOWED):
            # A shadowed comment is in the queue already: sent again, so that no
            # moderator approves its new text from a view of the old one.
            await self.decider.queue(comment_id, site.slug)
        return edited.comment


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"{seconds} seconds"
