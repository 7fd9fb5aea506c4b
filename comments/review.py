"""Moderator use cases: approve, reject, ban, article state; each lands in the audit log.

Decisions on one comment run one at a time across nodes (``ReviewStore.deciding``), and
each is a conditional update from the state just read, so when two moderators (or a
moderator and the re-scorer, or the author deleting it) act on the same comment, one wins
and the other gets 409 with the current comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from comments import policy
from comments.errors import ApiError
from comments.models import Comment, Status
from comments.services import Services
from comments.sites import Site
from comments.store.review import Moderator, ReviewItem

QUEUE_LIMIT = 500


def conflict(comment: Comment, message: str) -> ApiError:
    return ApiError(409, "conflict", message, extra={"comment": comment.to_json()})


async def comment_for(svc: Services, moderator: Moderator, comment_id: str) -> ReviewItem:
    """The comment, checked in the contract's order: 404 before 403."""
    item = await svc.review.item(comment_id)
    if item is None or item.comment.status is Status.PENDING:
        raise ApiError(404, "not_found", "no such comment")
    if item.comment.site != moderator.site:
        raise ApiError(403, "forbidden", "this comment belongs to another site")
    return item


def sort_queue(items: list[ReviewItem], site: Site) -> list[ReviewItem]:
    """Riskiest first; comments without scores (classifier away) before all."""
    thresholds = site.settings["thresholds"]
    return sorted(
        items,
        key=lambda i: policy.queue_key(policy.risk(i.scores or None, thresholds)),
    )


async def queue(svc: Services, site: Site) -> list[ReviewItem]:
    items = await svc.review.queue(
        site.slug,
        reports_before_review=int(site.settings["reports_before_review"]),
        limit=QUEUE_LIMIT,
    )
    return sort_queue(items, site)


async def approve(svc: Services, moderator: Moderator, comment_id: str) -> Comment:
    """Publish a held or rejected comment, or clear a published one's reports.

    Raises:
        ApiError: 404/403 (see ``comment_for``), 409 when there is nothing to approve or
            another moderator decided it.
    """
    async with svc.review.deciding(comment_id):
        item = await comment_for(svc, moderator, comment_id)
        comment = item.comment
        if comment.status is Status.PUBLISHED:
            if item.reports == 0 or not await svc.review.clear_reports(comment.id):
                raise conflict(comment, "this comment is published already")
            await _decided(svc, moderator, "approve", comment, {"reports_cleared": item.reports})
            return comment
        if comment.status not in (Status.HELD, Status.REJECTED):
            raise conflict(comment, f"this comment is {comment.status} already")
        await _not_decided_by_another(svc, moderator, comment)
        change = await svc.store.transition(
            comment.id,
            Status.PUBLISHED,
            allowed_from=[comment.status],  # only from the state just read
            values={"unscored": False, "reports": 0},
        )
        if change is None:  # the author deleted it, or the re-scorer decided it
            return await _lost_race(svc, comment.id)
        if change.event is not None:
            svc.hub.publish(comment.site, comment.article, change.event)
        await _decided(svc, moderator, "approve", change.comment, {"from": str(change.previous)})
        return change.comment


async def reject(svc: Services, moderator: Moderator, comment_id: str) -> Comment:
    """Reject a held comment, or withdraw a published one from open pages.

    Raises:
        ApiError: 404/403 (see ``comment_for``), 409 when it is not held or published,
            or another moderator decided it.
    """
    async with svc.review.deciding(comment_id):
        item = await comment_for(svc, moderator, comment_id)
        comment = item.comment
        if comment.status not in (Status.HELD, Status.PUBLISHED):
            raise conflict(comment, f"this comment is {comment.status} already")
        if item.reports == 0:  # a reported comment is back in the queue: a new case
            await _not_decided_by_another(svc, moderator, comment)
        change = await svc.store.transition(
            comment.id,
            Status.REJECTED,
            allowed_from=[comment.status],  # only from the state just read
            values={"unscored": False},
        )
        if change is None:
            return await _lost_race(svc, comment.id)
        if change.event is not None:  # it was published: withdraw it from open pages
            svc.hub.publish(comment.site, comment.article, change.event)
        await _decided(svc, moderator, "reject", change.comment, {"from": str(change.previous)})
        return change.comment


_OUTCOME = {"approve": Status.PUBLISHED, "reject": Status.REJECTED}


async def _not_decided_by_another(svc: Services, moderator: Moderator, comment: Comment) -> None:
    """409 when the comment is what another moderator's decision made it.

    Two moderators who click approve and reject on the same held comment must not
    publish it and withdraw it again: the second one is told it was decided. The same
    moderator may change their mind; a comment reported since is a new case.
    """
    if comment.status is Status.HELD:
        return  # nobody decided it yet
    last = await svc.review.last_decision(comment.site, comment.id)
    if last is not None and last[0] != moderator.name and _OUTCOME.get(last[1]) is comment.status:
        raise conflict(comment, f"moderator {last[0]} decided this comment already")


async def _lost_race(svc: Services, comment_id: str) -> Comment:
    current = await svc.store.get_comment(comment_id)
    assert current is not None
    raise conflict(current, "this comment changed meanwhile")


async def _decided(
    svc: Services, moderator: Moderator, action: str, comment: Comment, detail: dict[str, Any]
) -> None:
    svc.feed.publish(comment.site, {"type": "queue.removed", "id": comment.id})
    await svc.review.audit(moderator.site, moderator.name, action, f"comment:{comment.id}", detail)


async def set_ban(
    svc: Services,
    moderator: Moderator,
    site: str,
    author_id: str,
    *,
    banned: bool,
    reason: str = "",
    until: datetime | None = None,
) -> None:
    found = await svc.review.set_ban(site, author_id, banned=banned, reason=reason, until=until)
    if not found:
        raise ApiError(404, "not_found", "no such author on this site")
    detail: dict[str, Any] = {"reason": reason, "until": until.isoformat() if until else None}
    await svc.review.audit(
        site,
        moderator.name,
        "ban" if banned else "unban",
        f"author:{author_id}",
        detail if banned else {},
    )


async def set_article(
    svc: Services,
    moderator: Moderator,
    site: str,
    article: str,
    *,
    closed: bool | None,
    premoderated: bool | None,
) -> dict[str, Any]:
    row = await svc.store.set_article_state(site, article, closed=closed, premoderated=premoderated)
    changes = {
        k: v for k, v in (("closed", closed), ("premoderated", premoderated)) if v is not None
    }
    await svc.review.audit(site, moderator.name, "article", f"article:{article}", changes)
    return {
        "site": site,
        "article": article,
        "closed": row.closed,
        "premoderated": row.premoderated,
    }
