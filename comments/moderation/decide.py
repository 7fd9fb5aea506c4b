"""Deciding a comment: score it, apply the policy, then publish it or hold it.

Every new post, every re-score and every recovery pass comes through :class:`Decider`,
so the classifier and the policy act in one place and nothing reaches a public socket
before its decision (fail closed: no score holds the comment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from comments.live.feed import ModerationFeed
from comments.live.hub import Hub
from comments.models import Comment, Status
from comments.moderation import normalise, policy
from comments.moderation.ranking import stored_risk
from comments.observability.metrics import Metrics
from comments.scoring.queue import Dispatcher
from comments.scoring.scorer import Scorer
from comments.sites import Site, SiteCache
from comments.store import Store
from comments.store.review import SHADOW_REASON, AuthorState, ReviewStore
from comments.store.store import ArticleRow, EventRow


@dataclass(frozen=True)
class Known:
    """What a new post's checks read already: its article (None: not created yet) and
    its author's state."""

    article: ArticleRow | None
    author: AuthorState


@dataclass(frozen=True)
class Verdict:
    """The policy's decision as a status: published, held, rejected or shadowed."""

    status: Status
    reasons: list[str]
    # Held without a score (the classifier was away): re-scored when it is back.
    unscored: bool


class Decider:
    """Decides comments on this process: a node scoring inline, or a worker.

    ``dispatcher`` is set on a node whose posts are scored by ``comments worker``
    processes: a new post then waits up to ``worker_timeout_s`` for a worker's decision.
    """

    def __init__(
        self,
        *,
        store: Store,
        review: ReviewStore,
        sites: SiteCache,
        scorer: Scorer,
        hub: Hub,
        feed: ModerationFeed,
        metrics: Metrics,
        dispatcher: Dispatcher | None = None,
        worker_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.review = review
        self.sites = sites
        self.scorer = scorer
        self.hub = hub
        self.feed = feed
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.worker_timeout_s = worker_timeout_s

    async def first_decision(self, comment: Comment, site: Site) -> Comment:
        """A new post's decision, made here or by a worker: the comment as it stands."""
        if self.dispatcher is None:
            decided = await self.decide(comment, site)
        else:
            decided = await self._decide_by_worker(comment, site)
        if decided is None:  # decided elsewhere (a worker, another node's recovery)
            decided = await self.store.get_comment(comment.id) or comment
        self.metrics.posts.inc(decision=str(decided.status), code="")
        return decided

    async def judge_new(
        self, draft: Comment, site: Site, known: Known
    ) -> tuple[Verdict, dict[str, float] | None]:
        """A new post's decision before it is stored (scoring on this process): the
        verdict and the scores, for ``Store.create_comment`` to write in the same
        transaction as the comment, its seq and its event. Fail closed as ``decide``: no
        score holds it (``unscored``)."""
        scores = await self.scorer.score_all(self.pieces(draft.body, site))
        return await self.verdict(draft, site, scores, known=known), scores

    async def announce_new(self, comment: Comment, event: EventRow | None) -> Comment:
        """After ``judge_new``'s decision is stored: the broadcast, the moderators' queue."""
        if event is not None:
            self.hub.publish(comment.site, comment.article, event)
        if comment.status in (Status.HELD, Status.SHADOWED):
            await self.queue(comment.id, comment.site)
        self.metrics.posts.inc(decision=str(comment.status), code="")
        return comment

    async def _decide_by_worker(self, comment: Comment, site: Site) -> Comment | None:
        assert self.dispatcher is not None

        async def decided() -> bool:
            now = await self.store.get_comment(comment.id)
            return now is None or now.status is not Status.PENDING

        if await self.dispatcher.dispatch(comment.id, self.worker_timeout_s, decided):
            return None
        # No worker answered in time (or Redis would not take the job): hold it unscored,
        # as when the classifier is away. The job stays queued; the worker that takes it,
        # or the workers' recovery pass, scores it and publishes it if it is clean.
        return await self.apply_scores(comment, site, None)

    async def decide(
        self, comment: Comment, site: Site | None = None, *, rescoring: bool = False
    ) -> Comment | None:
        """Score a comment and apply the policy: publish it (a seq, a broadcast) or hold it.

        Takes a PENDING comment (or, when ``rescoring``, one held only because the
        classifier was away). The change is a conditional update, so when several nodes
        decide the same comment it is published once; the others get None.
        """
        if site is None:
            site = await self.sites.get(comment.site)
            if site is None:
                return None
        scores = await self.scorer.score_all(self.pieces(comment.body, site))
        return await self.apply_scores(comment, site, scores, rescoring=rescoring)

    @staticmethod
    def pieces(body: str, site: Site) -> list[str]:
        """What the classifier scores for ``body``: as typed, normalised, and by window."""
        known = policy.site_lexicon(site.settings["banned_words"], site.settings["suspect_words"])
        return normalise.pieces(body, normalise.normalise(body, known).text)

    async def apply_scores(
        self,
        comment: Comment,
        site: Site,
        scores: dict[str, float] | None,
        *,
        rescoring: bool = False,
    ) -> Comment | None:
        """The policy's half of ``decide``: ``scores`` None means the classifier gave none."""
        verdict = await self.verdict(comment, site, scores)
        to, reasons, unscored = verdict.status, verdict.reasons, verdict.unscored
        if rescoring and unscored:
            return None  # still no score: leave it as it is
        change = await self.store.transition(
            comment.id,
            to,
            allowed_from=[Status.HELD] if rescoring else [Status.PENDING],
            only_unscored=rescoring,
            values={
                "scores": json.dumps(scores or {}),
                "risk": stored_risk(scores, site.settings["thresholds"]),
                "reasons": json.dumps(reasons),
                "unscored": unscored,
            },
        )
        if change is None:  # decided elsewhere meanwhile
            return None
        if change.event is not None:
            self.hub.publish(comment.site, comment.article, change.event)
        if rescoring:
            self.feed.publish(comment.site, {"type": "queue.removed", "id": comment.id})
        if to in (Status.HELD, Status.SHADOWED):
            await self.queue(comment.id, comment.site)
        return change.comment

    async def queue(self, comment_id: str, site: str) -> None:
        """Put a held (or shadowed) comment in its site's live moderation queue."""
        item = await self.review.item(comment_id)
        if item is not None:
            self.feed.publish(site, {"type": "queue.added", "item": item.to_json()})

    async def verdict(
        self,
        comment: Comment,
        site: Site,
        scores: dict[str, float] | None,
        *,
        known: Known | None = None,
    ) -> Verdict:
        """What the policy makes of ``comment`` (its body as it stands) with ``scores``,
        for its author and article as they are now: a new post's or an edit's.

        ``known``: the article and author as the caller read them a moment ago (a new
        post's checks), so they are not read twice."""
        if known is not None:
            article, author = known.article, known.author
        else:
            article = await self.store.get_article(comment.site, comment.article)
            author = await self.review.author_state(
                comment.site, comment.author.id, besides=comment.id
            )
        decision = policy.decide(
            policy.SitePolicy(
                thresholds=site.settings["thresholds"],
                banned_words=tuple(site.settings["banned_words"]),
                suspect_words=tuple(site.settings["suspect_words"]),
                suspect_phrases=tuple(site.settings["suspect_phrases"]),
                premoderated=bool(site.settings["premoderated"]),
                premoderate_new_authors=bool(site.settings["premoderate_new_authors"]),
                hold_links_from_new_authors=bool(site.settings["hold_links_from_new_authors"]),
            ),
            policy.ArticleState(
                closed=False,  # a comment accepted before the article closed keeps its chance
                premoderated=bool(article and article.premoderated),
            ),
            # Checked again here: an author banned while the comment waited (a dead node,
            # a classifier outage) must not be published by the recovery.
            policy.AuthorState(
                banned=author.banned, has_approved_comment=author.has_approved_comment
            ),
            comment.body,
            scores,
        )
        to = {
            policy.Action.PUBLISH: Status.PUBLISHED,
            policy.Action.HOLD: Status.HELD,
            policy.Action.REJECT: Status.REJECTED,
        }[decision.action]
        reasons = list(decision.reasons)
        # Held without a score, whatever else held it: re-scored when the classifier is
        # back, so moderators see real scores (and clean comments are published).
        unscored = decision.action is policy.Action.HOLD and policy.CLASSIFIER_UNAVAILABLE in (
            decision.reasons
        )
        if author.shadowed and to is not Status.REJECTED:
            # Shadow-banned while it waited: its author alone sees it, as published.
            to, unscored = Status.SHADOWED, False
            reasons.append(SHADOW_REASON)
        return Verdict(status=to, reasons=reasons, unscored=unscored)

    async def shadowed(self, comment: Comment) -> None:
        """A shadow-banned author's new comment, stored SHADOWED already (never pending,
        so no recovery pass can publish it): scored when this process has a classifier,
        so moderators see how bad it is, then put in their live queue."""
        if self.dispatcher is None and self.scorer.usable:
            scores = await self.scorer.score(comment.body)
            if scores:
                site = await self.sites.get(comment.site)
                thresholds = site.settings["thresholds"] if site is not None else {}
                await self.store.set_scores(
                    comment.id, scores, risk=stored_risk(scores, thresholds)
                )
        item = await self.review.item(comment.id)
        if item is not None:
            self.feed.publish(comment.site, {"type": "queue.added", "item": item.to_json()})
        self.metrics.posts.inc(decision=str(Status.SHADOWED), code="")

    async def recover(self, *, pending_after: timedelta, batch: int = 50) -> int:
        """Decide what was left undecided (a node died mid-post) and re-score comments
        held while the classifier was away. Returns how many comments changed."""
        changed = 0
        for comment in await self.review.pending(pending_after, batch):
            if await self.decide(comment) is not None:
                changed += 1
        if self.scorer.usable:
            for item in await self.review.unscored(batch):
                if await self.decide(item.comment, rescoring=True) is not None:
                    changed += 1
        return changed
