"""Reply e-mails' rows: readers' subscriptions, the mail written with a reply's
publication, and the queue's life (claimed per recipient under a lease, sent, retried,
dropped when the reply or the subscription is gone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.models import Comment, Status, utcnow
from comments.store.mail_tables import mail_queue, mail_subscriptions
from comments.store.tables import articles, comments

if TYPE_CHECKING:
    from comments.store.store import Store


async def enqueue_reply(conn: AsyncConnection, reply: Comment, digest_s: float) -> bool:
    """In the reply's publishing transaction: one pending row when the parent's author
    opted in and is not the replier. Due ``digest_s`` after it; a recipient's rows leave
    together once the first is due, so replies in that window make one digest."""
    if reply.parent is None:
        return False
    recipient = (
        await conn.execute(
            sa.select(comments.c.author_id)
            .join(
                mail_subscriptions,
                sa.and_(
                    mail_subscriptions.c.site == comments.c.site,
                    mail_subscriptions.c.author_id == comments.c.author_id,
                ),
            )
            .where(comments.c.id == reply.parent)
        )
    ).scalar_one_or_none()
    if recipient is None or recipient == reply.author.id:
        return False
    # Published again (held by an edit, then approved): it was mailed, or is queued, once.
    again = await conn.execute(
        sa.select(mail_queue.c.id).where(
            mail_queue.c.site == reply.site,
            mail_queue.c.author_id == recipient,
            mail_queue.c.comment_id == reply.id,
        )
    )
    if again.first() is not None:
        return False
    now = utcnow()
    await conn.execute(
        sa.insert(mail_queue).values(
            site=reply.site,
            author_id=recipient,
            comment_id=reply.id,
            status="pending",
            attempts=0,
            next_attempt_at=now + timedelta(seconds=digest_s),
            created_at=now,
        )
    )
    return True


@dataclass(frozen=True)
class QueuedReply:
    id: int
    comment_id: str
    author_name: str
    body: str
    article: str
    title: str | None
    url: str | None
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Batch:
    """A recipient's claimed rows (one mail), with the address they subscribed with;
    ``email`` None: unsubscribed meanwhile."""

    site: str
    author_id: str
    email: str | None
    replies: list[QueuedReply]
    attempts: int
    first_at: datetime


class MailStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def subscribe(self, site: str, author_id: str, email: str) -> None:
        """Opt in (or change the address)."""
        async with self.store._write() as conn:
            await conn.execute(
                self.store._insert(mail_subscriptions)
                .values(site=site, author_id=author_id, email=email, created_at=utcnow())
                .on_conflict_do_update(index_elements=["site", "author_id"], set_={"email": email})
            )

    async def unsubscribe(self, site: str, author_id: str) -> bool:
        """Opt out; pending mails are dropped when their turn comes. False: was not in."""
        async with self.store._write() as conn:
            done = await conn.execute(
                sa.delete(mail_subscriptions).where(
                    mail_subscriptions.c.site == site, mail_subscriptions.c.author_id == author_id
                )
            )
        return bool(done.rowcount)

    async def subscribed(self, site: str, author_id: str) -> bool:
        async with self.store._read() as conn:
            found = await conn.execute(
                sa.select(mail_subscriptions.c.email).where(
                    mail_subscriptions.c.site == site, mail_subscriptions.c.author_id == author_id
                )
            )
            return found.first() is not None

    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """Recipients with a pending row due and no live lease."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(mail_queue.c.site, mail_queue.c.author_id)
                .where(
                    mail_queue.c.status == "pending",
                    mail_queue.c.next_attempt_at <= now,
                    sa.or_(mail_queue.c.lease_until.is_(None), mail_queue.c.lease_until < now),
                )
                .group_by(mail_queue.c.site, mail_queue.c.author_id)
                .limit(limit)
            )
            return [(r.site, r.author_id) for r in rows]

    async def sent_since(self, site: str, author_id: str, since: datetime) -> list[datetime]:
        """When the mails sent to this recipient since ``since`` left (one per mail)."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(mail_queue.c.sent_at)
                .where(
                    mail_queue.c.site == site,
                    mail_queue.c.author_id == author_id,
                    mail_queue.c.status == "sent",
                    mail_queue.c.sent_at >= since,
                )
                .distinct()
                .order_by(mail_queue.c.sent_at)
            )
            return [r.sent_at for r in rows]

    async def postpone(self, site: str, author_id: str, at: datetime) -> None:
        """Over the hourly limit: every pending row waits (and joins the next digest)."""
        async with self.store._write() as conn:
            await conn.execute(
                sa.update(mail_queue)
                .where(
                    mail_queue.c.site == site,
                    mail_queue.c.author_id == author_id,
                    mail_queue.c.status == "pending",
                )
                .values(next_attempt_at=at)
            )

    async def claim(self, site: str, author_id: str, lease: timedelta) -> Batch | None:
        """Every pending row of the recipient, leased to this node (one conditional
        UPDATE: of two nodes racing, one gets the rows)."""
        now = utcnow()
        async with self.store._write() as conn:
            claimed = await conn.execute(
                sa.update(mail_queue)
                .where(
                    mail_queue.c.site == site,
                    mail_queue.c.author_id == author_id,
                    mail_queue.c.status == "pending",
                    sa.or_(mail_queue.c.lease_until.is_(None), mail_queue.c.lease_until < now),
                )
                .values(lease_until=now + lease)
                .returning(mail_queue.c.id, mail_queue.c.attempts, mail_queue.c.created_at)
            )
            heads = claimed.all()
            if not heads:
                return None
            rows = await conn.execute(
                sa.select(
                    mail_queue.c.id,
                    comments.c.id.label("comment_id"),
                    comments.c.author_name,
                    comments.c.body,
                    comments.c.status,
                    comments.c.created_at,
                    articles.c.key,
                    articles.c.title,
                    articles.c.url,
                )
                .join(comments, comments.c.id == mail_queue.c.comment_id)
                .join(articles, articles.c.id == comments.c.article_id)
                .where(mail_queue.c.id.in_([h.id for h in heads]))
                .order_by(comments.c.created_at, mail_queue.c.id)
            )
            replies = [
                QueuedReply(
                    r.id,
                    r.comment_id,
                    r.author_name,
                    r.body,
                    r.key,
                    r.title,
                    r.url,
                    r.status,
                    r.created_at,
                )
                for r in rows
            ]
            email = (
                await conn.execute(
                    sa.select(mail_subscriptions.c.email).where(
                        mail_subscriptions.c.site == site,
                        mail_subscriptions.c.author_id == author_id,
                    )
                )
            ).scalar_one_or_none()
        return Batch(
            site,
            author_id,
            email,
            replies,
            max(h.attempts for h in heads),
            min(h.created_at for h in heads),
        )

    async def finish(self, ids: list[int], status: str, error: str | None = None) -> None:
        """``sent`` (all with one ``sent_at``), ``dropped`` or ``failed``."""
        if not ids:
            return
        values: dict[str, object] = {"status": status, "lease_until": None, "last_error": error}
        if status == "sent":
            values["sent_at"] = utcnow()
        async with self.store._write() as conn:
            await conn.execute(sa.update(mail_queue).where(mail_queue.c.id.in_(ids)).values(values))

    async def retry(self, ids: list[int], error: str, at: datetime) -> None:
        async with self.store._write() as conn:
            await conn.execute(
                sa.update(mail_queue)
                .where(mail_queue.c.id.in_(ids))
                .values(
                    attempts=mail_queue.c.attempts + 1,
                    next_attempt_at=at,
                    lease_until=None,
                    last_error=error[:500],
                )
            )


def published(reply: QueuedReply) -> bool:
    return reply.status == str(Status.PUBLISHED)
