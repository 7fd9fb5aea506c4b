"""Use cases: what happens to a comment, from the reader's post to its publication.

Every post goes through ``submit`` whatever the endpoint, so the classifier and the
policy act in one place: stored as pending, decided, then published (a seq and a
broadcast) or held. Nothing reaches a public socket before its decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
        ApiError: 403 closed, 409 duplicate, 422 unknown parent, 429 rate limited.
    """
    article = await svc.store.get_article(sub.site.slug, sub.article)
    if article is not None and article.closed:
        raise ApiError(403, "closed", "this article is closed for comments")
    if author is not None and await svc.store.is_duplicate(author.id, sub.body, DUPLICATE_WINDOW):
        raise ApiError(409, "duplicate", "you posted this same comment a moment ago")
    _rate_limit(svc, sub, author)

    guest_token: str | None = None
    if author is None:
        assert new_guest_name is not None
        author, guest_token = await svc.store.create_guest(sub.site.slug, new_guest_name)
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
    comment = await decide(svc, comment)
    return Submitted(comment=comment, guest_token=guest_token)


async def decide(svc: Services, comment: Comment) -> Comment:
    """Take a pending comment to its decision. Until a classifier is configured every
    valid comment is published; the claim is a conditional update, so a comment that
    several nodes try to decide is published once."""
    change = await svc.store.transition(comment.id, Status.PUBLISHED, allowed_from=[Status.PENDING])
    if change is None:  # decided elsewhere meanwhile
        current = await svc.store.get_comment(comment.id)
        return current if current is not None else comment
    if change.event is not None:
        svc.hub.publish(comment.site, comment.article, change.event)
    return change.comment


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


def _rate_limit(svc: Services, sub: Submission, author: Author | None) -> None:
    settings = sub.site.settings
    waits = [
        svc.limiter.check(
            f"ip:{sub.site.slug}:{sub.client_ip}", int(settings["posts_per_minute_per_ip"])
        )
    ]
    if author is not None:
        waits.append(
            svc.limiter.check(f"author:{author.id}", int(settings["posts_per_minute_per_author"]))
        )
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many comments; try again shortly",
            headers={"Retry-After": retry_after(wait)},
        )
