"""Moderator use cases: approve, reject, ban, article state; each lands in the audit log.

Decisions on one comment run one at a time across nodes (``ReviewStore.deciding``), and
each is a conditional update from the state just read, so when two moderators (or a
moderator and the re-scorer, or the author deleting it) act on the same comment, one wins
and the other gets 409 with the current comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from comments.errors import Code, Conflict, Refused
from comments.live.feed import ModerationFeed
from comments.live.hub import Hub
from comments.models import Comment, Status, utcnow
from comments.sites import Site
from comments.store import Store, article_pages
from comments.store.queue import QueuePage, queue_page
from comments.store.reactions import ReactionStore
from comments.store.review import Ban, Moderator, ReviewItem, ReviewStore

QUEUE_LIMIT = 500


_OUTCOME = {"approve": Status.PUBLISHED, "reject": Status.REJECTED}


class Reviewing:
    """What moderators do; each decision reaches the live queue and the audit log."""

    def __init__(
        self, *, store: Store, review: ReviewStore, hub: Hub, feed: ModerationFeed
    ) -> None:
        self.store = store
        self.review = review
        self.hub = hub
        self.feed = feed

    async def comment_for(self, moderator: Moderator, comment_id: str) -> ReviewItem:
        """The comment, checked in the contract's order: 404 before 403."""
        item = await self.review.item(comment_id)
        if item is None or item.comment.status is Status.PENDING:
            raise Refused(Code.NOT_FOUND, "no such comment")
        if item.comment.site != moderator.site:
            raise Refused(Code.FORBIDDEN, "this comment belongs to another site")
        check_scope(moderator, item.comment.article)
        return item

    async def queue(
        self,
        site: Site,
        *,
        limit: int = QUEUE_LIMIT,
        cursor: tuple[float, str] | None = None,
        only: str = "all",
        prefixes: list[str] | None = None,
    ) -> QueuePage:
        """A page of the queue by stored risk (comments.store.queue)."""
        return await queue_page(
            self.store,
            site.slug,
            reports_before_review=int(site.settings["reports_before_review"]),
            limit=limit,
            cursor=cursor,
            only=only,
            prefixes=prefixes,
        )

    async def approve(
        self, moderator: Moderator, comment_id: str, expected: str | None = None
    ) -> Comment:
        """Publish a held or rejected comment, or clear a published one's reports.
        ``expected``: the status (as shown) the moderator saw; with it, any moderator
        may reverse another's decision while the comment is still so (409 otherwise).

        Raises:
            Refused: not_found/forbidden (see ``comment_for``), conflict when there is
                nothing to approve or another moderator decided it.
        """
        async with self.review.deciding(comment_id):
            item = await self.comment_for(moderator, comment_id)
            comment = item.comment
            _as_expected(comment, expected)
            if comment.status is Status.PUBLISHED:
                if item.reports == 0 or not await self.review.clear_reports(comment.id):
                    raise Conflict(comment, "this comment is published already")
                await self._decided(
                    moderator, "approve", comment, {"reports_cleared": item.reports, **_page(item)}
                )
                return comment
            if comment.status not in (Status.HELD, Status.REJECTED, Status.SHADOWED):
                raise Conflict(comment, f"this comment is {_shown(comment)} already")
            if expected is None:
                await self._not_decided_by_another(moderator, comment)
            change = await self.store.transition(
                comment.id,
                Status.PUBLISHED,
                allowed_from=[comment.status],  # only from the state just read
                values={"unscored": False, "reports": 0},
            )
            if change is None:  # the author deleted it, or the re-scorer decided it
                return await self._lost_race(comment.id)
            if change.event is not None:
                self.hub.publish(comment.site, comment.article, change.event)
            await self._decided(
                moderator, "approve", change.comment, {"from": str(change.previous), **_page(item)}
            )
            return change.comment

    async def reject(
        self, moderator: Moderator, comment_id: str, expected: str | None = None
    ) -> Comment:
        """Reject a held comment, or withdraw a published one from open pages.
        ``expected``: as for ``approve``.

        Raises:
            Refused: not_found/forbidden (see ``comment_for``), conflict when it is not
                held or published, or another moderator decided it.
        """
        async with self.review.deciding(comment_id):
            item = await self.comment_for(moderator, comment_id)
            comment = item.comment
            _as_expected(comment, expected)
            if comment.status not in (Status.HELD, Status.PUBLISHED, Status.SHADOWED):
                raise Conflict(comment, f"this comment is {_shown(comment)} already")
            if item.reports == 0 and expected is None:  # reported since: a new case
                await self._not_decided_by_another(moderator, comment)
            change = await self.store.transition(
                comment.id,
                Status.REJECTED,
                allowed_from=[comment.status],  # only from the state just read
                values={"unscored": False},
            )
            if change is None:
                return await self._lost_race(comment.id)
            if change.event is not None:  # it was published: withdraw it from open pages
                self.hub.publish(comment.site, comment.article, change.event)
            await self._decided(
                moderator, "reject", change.comment, {"from": str(change.previous), **_page(item)}
            )
            return change.comment

    async def _not_decided_by_another(self, moderator: Moderator, comment: Comment) -> None:
        """409 when the comment is what another moderator's decision made it.

        Two moderators who click approve and reject on the same held comment must not
        publish it and withdraw it again: the second one is told it was decided. The same
        moderator may change their mind; a comment reported since is a new case.
        """
        if comment.status in (Status.HELD, Status.SHADOWED):
            return  # nobody decided it yet
        last = await self.review.last_decision(comment.site, comment.id)
        if (
            last is not None
            and last[0] != moderator.name
            and _OUTCOME.get(last[1]) is comment.status
        ):
            raise Conflict(comment, f"moderator {last[0]} decided this comment already")

    async def _lost_race(self, comment_id: str) -> Comment:
        current = await self.store.get_comment(comment_id)
        assert current is not None
        raise Conflict(current, "this comment changed meanwhile")

    async def _decided(
        self, moderator: Moderator, action: str, comment: Comment, detail: dict[str, Any]
    ) -> None:
        self.feed.publish(comment.site, {"type": "queue.removed", "id": comment.id})
        await self.review.audit(
            moderator.site, moderator.name, action, f"comment:{comment.id}", detail
        )

    async def ban(
        self,
        moderator: str,
        site: str,
        author_id: str,
        *,
        reason: str = "",
        until: datetime | None = None,
        scope: str | None = None,
        shadow: bool = False,
    ) -> Ban:
        """Ban (or re-ban) an author; the audit log keeps the old ban and the new one.
        ``moderator`` is who did it: a moderator's name, or ``cli`` for an operator.

        Raises:
            Refused: ``not_found``.
        """
        result = await self.review.ban(
            site, author_id, by=moderator, reason=reason, until=until, scope=scope, shadow=shadow
        )
        if result is None:
            raise Refused(Code.NOT_FOUND, "no such author on this site")
        old, new = result
        if until is None or until > utcnow():
            # A banned reader's likes stop counting (issue: "not counted for shadow-banned
            # or banned readers"), those given before the ban included.
            for w in await ReactionStore(self.store).withdraw(site, author_id):
                self.hub.publish_like(site, w.article, w.comment_id, w.reactions, w.version)
        await self.review.audit(
            site,
            moderator,
            "ban",
            f"author:{author_id}",
            {"old": None if old is None else old.summary(), "new": new.summary()},
        )
        return new

    async def unban(self, moderator: str, site: str, author_id: str) -> Ban | None:
        """Lift an author's ban (and forget its network keys); the ban lifted, or None
        when there was none. Only a lifted ban is an audit entry.

        Raises:
            Refused: ``not_found``.
        """
        return await lift_ban(self.review, moderator, site, author_id)

    async def bans(self, site: str) -> list[Ban]:
        return await self.review.bans(site)

    async def set_article(
        self,
        moderator: Moderator,
        site: str,
        article: str,
        *,
        closed: bool | None,
        premoderated: bool | None,
        page: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Close/open an article, pre-moderate it, set its title/url (``page``: the
        fields to change, None clearing one); one audit entry with what changed (for the
        page, old and new values).

        Raises:
            Refused: ``forbidden`` outside the moderator's scopes.
        """
        check_scope(moderator, article)
        row = await self.store.set_article_state(
            site, article, closed=closed, premoderated=premoderated
        )
        changes: dict[str, Any] = {
            k: v for k, v in (("closed", closed), ("premoderated", premoderated)) if v is not None
        }
        old = await article_pages.page_of(self.store, site, article)
        now = old
        if page:
            now = await article_pages.set_page(
                self.store,
                site,
                article,
                title=page.get("title", article_pages.UNSET),
                url=page.get("url", article_pages.UNSET),
            )
            for key in page:
                changes[key] = {"old": getattr(old, key), "new": getattr(now, key)}
        await self.review.audit(site, moderator.name, "article", f"article:{article}", changes)
        return {
            "site": site,
            "article": article,
            "closed": row.closed,
            "premoderated": row.premoderated,
            "title": now.title,
            "url": now.url,
        }


def _page(item: ReviewItem) -> dict[str, str]:
    """For the audit log: the article decided on, with its title and link where known."""
    page = {"article": item.comment.article}
    if item.article_title:
        page["article_title"] = item.article_title
    if item.article_url:
        page["article_url"] = item.article_url
    return page


def check_scope(moderator: Moderator, article: str) -> None:
    """Raises: Refused ``forbidden`` for an article outside the moderator's scopes."""
    if not moderator.may_act(article):
        raise Refused(Code.FORBIDDEN, "this article is outside your sections")


def _as_expected(comment: Comment, expected: str | None) -> None:
    """Raises: Conflict when the comment is no longer in the status the moderator saw."""
    if expected is not None and _shown(comment) != expected:
        raise Conflict(comment, f"this comment is {_shown(comment)} now, not {expected}")


def _shown(comment: Comment) -> str:
    # A moderator is told what the API shows: a shadowed comment is held for all but one.
    return str(comment.to_json()["status"])


async def lift_ban(review: ReviewStore, actor: str, site: str, author_id: str) -> Ban | None:
    """Lift an author's ban (moderators, and ``comments ban remove`` as ``cli``); the
    ban lifted, or None when there was none.

    Raises:
        Refused: ``not_found``.
    """
    found, old = await review.unban(site, author_id)
    if not found:
        raise Refused(Code.NOT_FOUND, "no such author on this site")
    if old is not None:
        await review.audit(
            site, actor, "unban", f"author:{author_id}", {"old": old.summary(), "new": None}
        )
    return old
