"""Erasure's writes to what waits to leave (or has left) the server: webhook messages in
the outbox and reply mails in the mail queue. Called by ``comments.store.erasure.scrub``
inside its transaction, so the author's data goes from every table at once.

Webhook messages that carry the author's comment (published, held, rejected, edited)
become ``comment.redacted`` in place, as the live stream's events do: same row, same
message id and order, only the comment's id, site and article left, so a receiver that
has not had them yet gets a message it ignores instead of the text (delivered ones are
rewritten too: the outbox is the delivery log). ``author.banned`` messages lose the name
and the reason, as the ban itself does."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.models import dumps
from comments.store.hook_tables import outbox
from comments.store.mail_tables import mail_queue
from comments.store.tables import articles, comments

# The messages that carry a comment's text and author (comments.store.outbox).
TEXT_MESSAGES = ("comment.published", "comment.held", "comment.rejected", "comment.edited")
REDACTED = "comment.redacted"
BANNED = "author.banned"


def redacted_message(message: dict[str, Any]) -> dict[str, Any]:
    """A comment message without the comment: type ``comment.redacted``, its id, site
    and article (what ``comment.removed`` carries), the original timestamp."""
    comment = message.get("data", {}).get("comment") or {}
    return {
        "type": REDACTED,
        "timestamp": message.get("timestamp"),
        "data": {"comment": {k: comment.get(k) for k in ("id", "site", "article")}},
    }


async def redact_outbox(conn: AsyncConnection, site: str, author_id: str, erased_name: str) -> int:
    """Rewrite every outbox message of ``site`` that carries the author's comments or
    names them in a ban; returns how many rows changed (0 when run again)."""
    theirs = sa.select(comments.c.id).where(
        comments.c.site == site, comments.c.author_id == author_id
    )
    ids = set((await conn.execute(theirs)).scalars())
    changes: list[dict[str, Any]] = []
    if ids:
        # Messages are ordered per article: only the author's articles can hold theirs.
        keys = (
            sa.select(articles.c.key)
            .join(comments, comments.c.article_id == articles.c.id)
            .where(comments.c.site == site, comments.c.author_id == author_id)
            .distinct()
        )
        found = await conn.execute(
            sa.select(outbox.c.id, outbox.c.payload).where(
                outbox.c.site == site,
                outbox.c.event.in_(TEXT_MESSAGES),
                outbox.c.order_key.in_(keys),
                # Their id as the payload spells it: only their messages are parsed here.
                outbox.c.payload.contains(dumps(author_id)[1:-1], autoescape=True),
            )
        )
        for row_id, payload in found:
            message = json.loads(payload)
            comment = message.get("data", {}).get("comment") or {}
            if comment.get("id") in ids:
                changes.append(
                    {
                        "b_id": row_id,
                        "b_event": REDACTED,
                        "b_payload": dumps(redacted_message(message)),
                    }
                )
    bans = await conn.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(
            outbox.c.site == site,
            outbox.c.event == BANNED,
            outbox.c.order_key == f"author:{author_id}",
        )
    )
    for row_id, payload in bans:
        message = json.loads(payload)
        ban = message.get("data", {}).get("ban")
        if isinstance(ban, dict) and (ban.get("name") != erased_name or ban.get("reason")):
            message["data"]["ban"] = {**ban, "name": erased_name, "reason": ""}
            changes.append({"b_id": row_id, "b_event": BANNED, "b_payload": dumps(message)})
    if changes:
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == sa.bindparam("b_id"))
            .values(event=sa.bindparam("b_event"), payload=sa.bindparam("b_payload")),
            changes,
        )
    return len(changes)


async def clear_mail_queue(conn: AsyncConnection, site: str, author_id: str) -> int:
    """Mail rows addressed to the author go, whatever their state (what they were sent
    is theirs; an SMTP error may quote their address); replies of theirs not yet mailed
    to others are dropped (the sender would quote them). Returns the rows changed."""
    gone = await conn.execute(
        sa.delete(mail_queue).where(mail_queue.c.site == site, mail_queue.c.author_id == author_id)
    )
    dropped = await conn.execute(
        sa.update(mail_queue)
        .where(
            mail_queue.c.site == site,
            mail_queue.c.status == "pending",
            mail_queue.c.comment_id.in_(
                sa.select(comments.c.id).where(
                    comments.c.site == site, comments.c.author_id == author_id
                )
            ),
        )
        .values(status="dropped", lease_until=None)
    )
    return int(gone.rowcount or 0) + int(dropped.rowcount or 0)
