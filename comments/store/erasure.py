"""Erasure's writes (GDPR, docs/api.md "Personal data"): once an author's comments are
withdrawn (comments.moderation.erasure), what remains of them in the database is
overwritten in one transaction. Rows stay (foreign keys, reply structure, tombstones);
what names or identifies the person goes."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from comments.models import Comment
from comments.store.authors import NOTE_ACTION
from comments.store.edit_tables import comment_versions
from comments.store.erasure_queues import clear_mail_queue, redact_outbox
from comments.store.mail_tables import mail_subscriptions
from comments.store.reaction_tables import reactions
from comments.store.review_tables import audit, ban_networks, reports
from comments.store.store import Store
from comments.store.tables import authors, comments

ERASED_NAME = "[erased]"
# A reporter so marked is no one (as retention's "expired:"); the row id keeps it unique.
ERASED_REPORTER = "erased:"
BAN_ACTION = "ban"


def _without_text(detail: Any) -> Any:
    """An audit entry's detail without its free text: a note's body, bans' reasons."""
    if not isinstance(detail, dict):
        return detail
    out = dict(detail)
    if isinstance(out.get("body"), str):
        out["body"] = ""
    for side in ("old", "new"):
        ban = out.get(side)
        if isinstance(ban, dict) and ban.get("reason"):
            out[side] = {**ban, "reason": ""}
    return out


@dataclass(frozen=True)
class Scrubbed:
    """How many rows of each kind the overwrite changed (0 when run again)."""

    comments: int
    versions: int
    reports: int
    networks: int
    notes: int  # audit entries (notes, bans) whose text was cleared
    subscriptions: int = 0  # reply e-mail addresses
    likes: int = 0  # likes now under reader ids that name nobody
    messages: int = 0  # webhook messages redacted (comments.store.erasure_queues)
    mails: int = 0  # reply-mail rows deleted or dropped

    def plus(self, other: Scrubbed) -> Scrubbed:
        return Scrubbed(
            comments=self.comments + other.comments,
            versions=self.versions + other.versions,
            reports=self.reports + other.reports,
            networks=self.networks + other.networks,
            notes=self.notes + other.notes,
            subscriptions=self.subscriptions + other.subscriptions,
            likes=self.likes + other.likes,
            messages=self.messages + other.messages,
            mails=self.mails + other.mails,
        )


async def author_exists(store: Store, site: str, author_id: str) -> bool:
    async with store._read() as conn:
        found = await conn.execute(
            sa.select(authors.c.id).where(authors.c.site == site, authors.c.id == author_id)
        )
        return found.first() is not None


async def lock_out(store: Store, site: str, author_id: str) -> None:
    """Forget the guest token first, so no new comment of theirs arrives while their
    comments are withdrawn (the old token gets 401 from now on)."""
    async with store._write() as conn:
        await conn.execute(
            sa.update(authors)
            .where(authors.c.site == site, authors.c.id == author_id)
            .values(guest_token_hash=None)
        )


async def live_comments(store: Store, site: str, author_id: str) -> list[Comment]:
    """The author's comments not yet withdrawn (any status but deleted)."""
    async with store._read() as conn:
        ids = (
            await conn.execute(
                sa.select(comments.c.id)
                .where(
                    comments.c.site == site,
                    comments.c.author_id == author_id,
                    comments.c.status != "deleted",
                )
                .order_by(comments.c.created_at, comments.c.id)
            )
        ).scalars()
        found = [await store._get_comment(conn, i) for i in list(ids)]
    return [c for c in found if c is not None]


async def scrub(store: Store, site: str, author_id: str) -> Scrubbed:
    """Overwrite the author's texts, names and identity links. Bans stay in force
    (erasure is no way out of one: an SSO reader comes back with the same id); their
    free-text reason and network keys go."""
    mine = sa.select(comments.c.id).where(
        comments.c.site == site, comments.c.author_id == author_id
    )
    async with store._write() as conn:
        # The author's row first, as a like batch locks it (comments.store.reactions):
        # locking it last, after their like rows and comments, could deadlock with one.
        await conn.execute(
            sa.select(authors.c.id)
            .where(authors.c.site == site, authors.c.id == author_id)
            .with_for_update()
        )
        versions = await conn.execute(
            sa.delete(comment_versions).where(comment_versions.c.comment_id.in_(mine))
        )
        changed = await conn.execute(
            sa.update(comments)
            .where(
                comments.c.site == site,
                comments.c.author_id == author_id,
                sa.or_(
                    comments.c.body != "",
                    comments.c.author_name != ERASED_NAME,
                    comments.c.network_key.is_not(None),
                ),
            )
            .values(body="", author_name=ERASED_NAME, network_key=None)
        )
        # A report keeps counting (one per reporter) under a reporter id that names nobody.
        made = (
            await conn.execute(sa.select(reports.c.id).where(reports.c.reporter == author_id))
        ).scalars()
        made_ids = list(made)
        for report_id in made_ids:
            await conn.execute(
                sa.update(reports)
                .where(reports.c.id == report_id)
                .values(reporter=f"{ERASED_REPORTER}{report_id}")
            )
        networks = await conn.execute(
            sa.delete(ban_networks).where(
                ban_networks.c.site == site, ban_networks.c.author_id == author_id
            )
        )
        # Moderators' notes and ban reasons are free text about the person: the text
        # goes, the entry (who did what, when) stays.
        entries = await conn.execute(
            sa.select(audit.c.id, audit.c.detail).where(
                audit.c.site == site,
                audit.c.target == f"author:{author_id}",
                audit.c.action.in_([NOTE_ACTION, BAN_ACTION]),
            )
        )
        notes = 0
        for entry_id, detail in list(entries):
            cleared = _without_text(json.loads(detail))
            if json.dumps(cleared) != detail:
                notes += 1
                await conn.execute(
                    sa.update(audit)
                    .where(audit.c.id == entry_id)
                    .values(detail=json.dumps(cleared))
                )
        # Their e-mail address goes, and with it their reply mails (sent or not).
        subscriptions = await conn.execute(
            sa.delete(mail_subscriptions).where(
                mail_subscriptions.c.site == site, mail_subscriptions.c.author_id == author_id
            )
        )
        mails = await clear_mail_queue(conn, site, author_id)
        # Webhook messages carrying their comments or naming them (pending and delivered).
        messages = await redact_outbox(conn, site, author_id, ERASED_NAME)
        # Their likes keep counting (no count moves, so no page changes) under reader ids
        # that name nobody: which comments a person liked is theirs.
        liked = (
            await conn.execute(
                sa.select(reactions.c.comment_id).where(
                    reactions.c.author_id == author_id,
                    reactions.c.comment_id.in_(
                        sa.select(comments.c.id).where(comments.c.site == site)
                    ),
                )
            )
        ).scalars()
        liked_ids = list(liked)
        for comment_id in liked_ids:
            await conn.execute(
                sa.update(reactions)
                .where(reactions.c.comment_id == comment_id, reactions.c.author_id == author_id)
                .values(author_id=f"{ERASED_REPORTER}{secrets.token_hex(8)}")
            )
        await conn.execute(
            sa.update(authors)
            .where(authors.c.site == site, authors.c.id == author_id)
            .values(name=ERASED_NAME, guest_token_hash=None, ban_reason=None)
        )
    return Scrubbed(
        comments=int(changed.rowcount or 0),
        versions=int(versions.rowcount or 0),
        reports=len(made_ids),
        networks=int(networks.rowcount or 0),
        notes=notes,
        subscriptions=int(subscriptions.rowcount or 0),
        likes=len(liked_ids),
        messages=messages,
        mails=mails,
    )
