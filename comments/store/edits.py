"""Edits in the database: a comment's new text, its earlier ones, and the event.

An edit is one transaction, like every change readers see: the text, the version it
replaces, the redaction of the events that carried the old text and the event that
tells open pages (``comment.edited``, or ``comment.removed`` when the edit is held).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from comments.models import Comment, EventType, Status, edited_event, utcnow
from comments.store.edit_tables import comment_versions
from comments.store.store import EventRow, Store
from comments.store.tables import articles, comments

#: Versions kept per comment for moderators: the newest ones (an edit loop cannot grow
#: a comment's history without bound in what moderators are sent).
VERSIONS_SHOWN = 50


@dataclass(frozen=True)
class Version:
    """A text a comment had before an edit replaced it."""

    body: str
    written_at: datetime
    replaced_at: datetime


@dataclass(frozen=True)
class Edited:
    """An edit as stored: the comment as it now stands and the event it produced."""

    comment: Comment
    event: EventRow | None


class EditStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def apply(
        self, current: Comment, body: str, to: Status, values: dict[str, Any]
    ) -> Edited | None:
        """Replace ``current``'s text with ``body`` and move it to ``to``; None when the
        comment changed meanwhile (another edit, a moderator, a delete): nothing done.

        ``current`` is published or shadowed. Published and staying so: its earlier
        events are redacted and ``comment.edited`` is appended. Published and held or
        rejected: withdrawn (``comment.removed``). Shadowed: no event (it never had one).
        """
        now = utcnow()
        async with self.store._write() as conn:
            claimed = await conn.execute(
                sa.update(comments)
                .where(
                    comments.c.id == current.id,
                    comments.c.status == current.status,
                    comments.c.body == current.body,
                )
                .values(body=body, edited_at=now, updated_at=now, status=to, **values)
            )
            if not claimed.rowcount:
                return None
            await conn.execute(
                sa.insert(comment_versions).values(
                    comment_id=current.id,
                    body=current.body,
                    written_at=current.edited_at or current.created_at,
                    replaced_at=now,
                )
            )
            art_id = (
                await conn.execute(
                    sa.select(articles.c.id, articles.c.last_seq).where(
                        articles.c.site == current.site, articles.c.key == current.article
                    )
                )
            ).one()
            edited = replace(current, body=body, edited_at=now, status=to)
            if current.status is not Status.PUBLISHED:
                return Edited(comment=edited, event=None)
            if to is Status.PUBLISHED:
                await self.store.redact_text(conn, art_id.id, current)
                seq = await self.store._next_seq(conn, art_id.id)
                event = await self.store._append_event(
                    conn, art_id.id, seq, EventType.EDITED, current.id, edited_event(seq, edited)
                )
                await self.store.outbox.enqueue(
                    conn,
                    current.site,
                    "comment.edited",
                    current.article,
                    {"comment": edited.to_json()},
                )
                return Edited(comment=edited, event=event)
            event = await self.store.withdraw(conn, art_id.id, current)
            # Out of the stream: no seq, but a shadowed comment keeps its place for its
            # author (after the latest event, as Store.transition places one).
            seq_now = art_id.last_seq + 1 if to is Status.SHADOWED else None
            await conn.execute(
                sa.update(comments).where(comments.c.id == current.id).values(seq=seq_now)
            )
            await self.store._notify(conn, replace(edited, seq=None))  # held or rejected
            return Edited(comment=replace(edited, seq=seq_now), event=event)

    async def versions(self, comment_id: str) -> list[Version]:
        """The comment's earlier texts, oldest first (the newest VERSIONS_SHOWN)."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(
                    comment_versions.c.body,
                    comment_versions.c.written_at,
                    comment_versions.c.replaced_at,
                )
                .where(comment_versions.c.comment_id == comment_id)
                .order_by(comment_versions.c.id.desc())
                .limit(VERSIONS_SHOWN)
            )
            found = [Version(r.body, r.written_at, r.replaced_at) for r in rows]
        return found[::-1]
