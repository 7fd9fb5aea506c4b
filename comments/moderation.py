"""Use cases: what happens to a comment, from the reader's post to its publication.

Every post goes through ``submit`` whatever the endpoint, so the classifier and the
policy act in one place: stored as pending, decided, then published (a seq and a
broadcast) or held. Nothing reaches a public socket before its decision.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

from comments import policy
from comments.auth import is_guest
from comments.errors import ApiError
from comments.models import Author, Comment, Status
from comments.ratelimit import retry_after
from comments.services import Services
from comments.sites import Site
from comments.store.store import NotFound

DUPLICATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Submission:
    site: Site
    article: str
    body: str
    parent: str | None
    client_ip: str


@dataclass(frozen=True)
class Submitted:
    comment: Comment
    guest_token: str | None = None


async def check_parent(svc: Services, sub: Submission) -> None:
    if sub.parent is None:
        return
    parent = await svc.store.get_comment(sub.parent)
    if (
        parent is None
        or parent.site != sub.site.slug
        or parent.article != sub.article
        or parent.status is not Status.PUBLISHED
    ):
        raise ApiError(
            422, "unknown_parent", "parent must be a published comment of the same article"
        )


def check_content(site: Site, body: str) -> None:
    """Refuse a body with a banned word (422), before anything is stored."""
    found = policy.find_words(body, site.settings["banned_words"])
    if found:
        raise ApiError(
            422, "banned_word", f"this comment contains a word this site does not allow: {found[0]}"
        )


async def submit(
    svc: Services,
    sub: Submission,
    author: Author | None,
    new_guest_name: str | None,
) -> Submitted:
    """Store, decide and publish or hold one comment.

    ``author`` is the verified identity, or None with ``new_guest_name`` set for a guest
    posting for the first time (created only once every check has passed).

    Raises:
        ApiError: 403 banned or closed, 409 duplicate, 422 unknown parent, 429 rate
            limited.
    """
    if author is not None:
        state = await svc.review.author_state(sub.site.slug, author.id)
        if state.banned:
            raise ApiError(403, "banned", "you can no longer comment on this site")
    article = await svc.store.get_article(sub.site.slug, sub.article)
    if article is not None and article.closed:
        raise ApiError(403, "closed", "this article is closed for comments")
    if author is not None and await svc.store.is_duplicate(author.id, sub.body, DUPLICATE_WINDOW):
        raise ApiError(409, "duplicate", "you posted this same comment a moment ago")
    await _rate_limit(svc, sub, author)

    guest_token: str | None = None
    if author is None:
        assert new_guest_name is not None
        author, guest_token = await svc.store.create_guest(sub.site.slug, new_guest_name)
        # A new guest's first post counts against its own limit too.
        await svc.limiter.hit(_author_key(author), _per_author(sub.site))
    elif not is_guest(author):
        await svc.store.upsert_sso_author(sub.site.slug, author)  # first post, or a new name
    try:
        comment, _ = await svc.store.create_comment(
            site=sub.site.slug,
            article=sub.article,
            author=author,
            body=sub.body,
            parent=sub.parent,
        )
    except NotFound:  # the parent left between the check and the write
        raise ApiError(
            422, "unknown_parent", "parent must be a published comment of the same article"
        ) from None
    return Submitted(comment=await _first_decision(svc, comment, sub.site), guest_token=guest_token)


async def _first_decision(svc: Services, comment: Comment, site: Site) -> Comment:
    """A new post's decision, made on this node or by a worker: the comment as it stands."""
    if svc.dispatcher is None:
        decided = await decide(svc, comment, site)
    else:
        decided = await _decide_by_worker(svc, comment, site)
    if decided is None:  # decided elsewhere (a worker, another node's recovery)
        decided = await svc.store.get_comment(comment.id) or comment
    svc.metrics.posts.inc(decision=str(decided.status), code="")
    return decided


async def _decide_by_worker(svc: Services, comment: Comment, site: Site) -> Comment | None:
    assert svc.dispatcher is not None

    async def decided() -> bool:
        now = await svc.store.get_comment(comment.id)
        return now is None or now.status is not Status.PENDING

    if await svc.dispatcher.dispatch(comment.id, svc.settings.worker_timeout_s, decided):
        return None
    # No worker answered in time (or Redis would not take the job): hold it unscored,
    # as when the classifier is away. The job stays queued; the worker that takes it,
    # or the workers' recovery pass, scores it and publishes it if it is clean.
    return await apply_scores(svc, comment, site, None)


async def decide(
    svc: Services, comment: Comment, site: Site | None = None, *, rescoring: bool = False
) -> Comment | None:
    """Score a comment and apply the policy: publish it (a seq, a broadcast) or hold it.

    Takes a PENDING comment (or, when ``rescoring``, one held only because the
    classifier was away). The change is a conditional update, so when several nodes
    decide the same comment it is published once; the others get None.
    """
    if site is None:
        site = await svc.sites.get(comment.site)
        if site is None:
            return None
    scores = await svc.scorer.score(comment.body)
    return await apply_scores(svc, comment, site, scores, rescoring=rescoring)


async def apply_scores(
    svc: Services,
    comment: Comment,
    site: Site,
    scores: dict[str, float] | None,
    *,
    rescoring: bool = False,
) -> Comment | None:
    """The policy's half of ``decide``: ``scores`` None means the classifier gave none."""
    article = await svc.store.get_article(comment.site, comment.article)
    author = await svc.review.author_state(comment.site, comment.author.id)
    decision = policy.decide(
        policy.SitePolicy(
            thresholds=site.settings["thresholds"],
            banned_words=tuple(site.settings["banned_words"]),
            suspect_words=tuple(site.settings["suspect_words"]),
            premoderated=bool(site.settings["premoderated"]),
        ),
        policy.ArticleState(
            closed=False,  # a comment accepted before the article closed keeps its chance
            premoderated=bool(article and article.premoderated),
        ),
        # Checked again here: an author banned while the comment waited (a dead node, a
        # classifier outage) must not be published by the recovery.
        policy.AuthorState(banned=author.banned, has_approved_comment=author.has_approved_comment),
        comment.body,
        scores,
    )
    to = {
        policy.Action.PUBLISH: Status.PUBLISHED,
        policy.Action.HOLD: Status.HELD,
        policy.Action.REJECT: Status.REJECTED,
    }[decision.action]
    # Held without a score, whatever else held it: re-scored when the classifier is
    # back, so moderators see real scores (and clean comments are published).
    unscored = decision.action is policy.Action.HOLD and policy.CLASSIFIER_UNAVAILABLE in (
        decision.reasons
    )
    if rescoring and unscored:
        return None  # still no score: leave it as it is
    change = await svc.store.transition(
        comment.id,
        to,
        allowed_from=[Status.HELD] if rescoring else [Status.PENDING],
        only_unscored=rescoring,
        values={
            "scores": json.dumps(scores or {}),
            "reasons": json.dumps(list(decision.reasons)),
            "unscored": unscored,
        },
    )
    if change is None:  # decided elsewhere meanwhile
        return None
    if change.event is not None:
        svc.hub.publish(comment.site, comment.article, change.event)
    if rescoring:
        svc.feed.publish(comment.site, {"type": "queue.removed", "id": comment.id})
    if to is Status.HELD:
        item = await svc.review.item(comment.id)
        if item is not None:
            svc.feed.publish(comment.site, {"type": "queue.added", "item": item.to_json()})
    return change.comment


async def recover(svc: Services, *, pending_after: timedelta, batch: int = 50) -> int:
    """Decide what was left undecided (a node died mid-post) and re-score comments held
    while the classifier was away. Returns how many comments changed."""
    changed = 0
    for comment in await svc.review.pending(pending_after, batch):
        if await decide(svc, comment) is not None:
            changed += 1
    if svc.scorer.usable:
        for item in await svc.review.unscored(batch):
            if await decide(svc, item.comment, rescoring=True) is not None:
                changed += 1
    return changed


async def delete_own(
    svc: Services, site: Site, article: str, comment_id: str, author: Author
) -> Comment:
    """The author withdraws their comment; open pages get ``comment.removed``.

    Raises:
        ApiError: 404 unknown comment, 403 someone else's.
    """
    comment = await svc.store.get_comment(comment_id)
    if comment is None or comment.site != site.slug or comment.article != article:
        raise ApiError(404, "not_found", "no such comment under this article")
    if comment.author.id != author.id:
        raise ApiError(403, "forbidden", "only its author can delete a comment")
    change = await svc.store.transition(
        comment_id,
        Status.DELETED,
        allowed_from=[Status.PENDING, Status.PUBLISHED, Status.HELD, Status.REJECTED],
    )
    if change is None:
        raise ApiError(404, "not_found", "this comment was deleted already")
    if change.event is not None:
        svc.hub.publish(site.slug, article, change.event)
    return change.comment


async def _rate_limit(svc: Services, sub: Submission, author: Author | None) -> None:
    settings = sub.site.settings
    # Both counted at once: with Redis each is a round trip.
    checks = {
        "post_ip": svc.limiter.hit(
            f"ip:{sub.site.slug}:{sub.client_ip}", int(settings["posts_per_minute_per_ip"])
        )
    }
    if author is not None:
        checks["post_author"] = svc.limiter.hit(_author_key(author), _per_author(sub.site))
    limits = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    for limit, hit in limits.items():
        if hit is not None:
            svc.metrics.rate_limited.inc(limit=limit)
    wait = max((w for w in limits.values() if w is not None), default=None)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many comments; try again shortly",
            headers={"Retry-After": retry_after(wait)},
        )


def _author_key(author: Author) -> str:
    return f"author:{author.id}"


def _per_author(site: Site) -> int:
    return int(site.settings["posts_per_minute_per_author"])
