"""Erasing an author (GDPR, docs/api.md "Personal data"): every comment of theirs is
withdrawn the way a deletion withdraws one (published ones leave open pages live with
``comment.removed``; their earlier events are redacted), then what remains is
overwritten (comments.store.erasure) and one ``erase`` audit entry is written.
Running it again changes nothing more and reports zeros."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from comments.errors import Code, Refused
from comments.models import Comment, Status
from comments.store import EventRow, Store
from comments.store.erasure import Scrubbed, author_exists, live_comments, lock_out, scrub
from comments.store.review import ReviewStore

ERASE_ACTION = "erase"
# Rounds of withdrawing and overwriting: a comment changed meanwhile (by a moderator, or
# a post that passed its checks before the lock-out) is read again in the next.
ROUNDS = 5

# Tells open pages (and the moderators' queue) that a comment left: given the comment
# and, when it was published, its ``comment.removed`` event.
Announce = Callable[[Comment, EventRow | None], Awaitable[None]]


@dataclass(frozen=True)
class Erased:
    """What one erasure did (docs/api.md, "Personal data")."""

    site: str
    author: str
    withdrawn: int  # published comments taken off open pages
    removed: int  # held, pending, shadowed or rejected ones marked removed
    comments_overwritten: int
    versions_deleted: int
    reports_anonymised: int
    networks_deleted: int
    audit_texts_cleared: int
    subscriptions_deleted: int  # reply e-mail addresses
    likes_anonymised: int = 0  # their likes keep counting, under ids that name nobody
    webhook_messages_redacted: int = 0  # outbox rows carrying their comments or name
    mails_removed: int = 0  # reply mails to them deleted, of theirs not yet sent dropped

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        return [f"{key}: {value}" for key, value in asdict(self).items()]


async def erase_author(
    store: Store,
    review: ReviewStore,
    site: str,
    author_id: str,
    *,
    actor: str,
    announce: Announce,
) -> Erased:
    """Erase one author of ``site``; ``actor`` names who did it in the audit log.

    Raises:
        Refused: ``not_found`` for an unknown author.
    """
    if not await author_exists(store, site, author_id):
        raise Refused(Code.NOT_FOUND, "no such author on this site")
    await lock_out(store, site, author_id)
    withdrawn = removed = 0
    total = Scrubbed(comments=0, versions=0, reports=0, networks=0, notes=0)
    # A post that passed its checks before the lock-out may land meanwhile: withdraw and
    # overwrite again until nothing of theirs is left standing (a round or two).
    for _ in range(ROUNDS):
        left = await live_comments(store, site, author_id)
        for comment in left:
            # One at a time with moderators' decisions on it (ReviewStore.deciding).
            async with review.deciding(comment.id):
                change = await store.transition(
                    comment.id, Status.DELETED, allowed_from=[comment.status]
                )
            if change is None:
                continue  # changed meanwhile: the next round reads it again
            if change.event is not None:
                withdrawn += 1
            else:
                removed += 1
            await announce(change.comment, change.event)
        done = await scrub(store, site, author_id)
        total = total.plus(done)
        if not left:
            break
    erased = Erased(
        site=site,
        author=author_id,
        withdrawn=withdrawn,
        removed=removed,
        comments_overwritten=total.comments,
        versions_deleted=total.versions,
        reports_anonymised=total.reports,
        networks_deleted=total.networks,
        audit_texts_cleared=total.notes,
        subscriptions_deleted=total.subscriptions,
        likes_anonymised=total.likes,
        webhook_messages_redacted=total.messages,
        mails_removed=total.mails,
    )
    detail = {k: v for k, v in erased.to_json().items() if k not in ("site", "author")}
    await review.audit(site, actor, ERASE_ACTION, f"author:{author_id}", detail)
    return erased
