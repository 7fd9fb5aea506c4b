"""Reactions in the database: one "like" per reader per comment, and the count.

A like and the comment's ``reactions`` count change in one transaction, so the count
always equals the likes stored; the primary key makes repeating a like a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.models import Status, utcnow
from comments.store.reaction_tables import reactions
from comments.store.store import Store
from comments.store.tables import articles, authors, comments


@dataclass(frozen=True)
class Reacted:
    """What a reader is answered: the count as they see it, and whether they like it."""

    reactions: int
    reacted: bool


class ReactionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def react(
        self, site: str, article: str, comment_id: str, author_id: str, like: bool
    ) -> Reacted | None:
        """Add (``like``) or drop the reader's like; None when no such published comment.

        A shadow-banned reader's like is not stored: they are answered as if it counted
        (the public count plus theirs), and nobody else sees a change.
        """
        async with self.store._write() as conn:
            row = (
                await conn.execute(
                    sa.select(comments.c.reactions)
                    .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                    .where(
                        comments.c.id == comment_id,
                        articles.c.site == site,
                        articles.c.key == article,
                        comments.c.status == Status.PUBLISHED.value,
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            if await self._shadowed(conn, author_id):
                return Reacted(reactions=row.reactions + int(like), reacted=like)
            mine = reactions.c.comment_id == comment_id, reactions.c.author_id == author_id
            had = (await conn.execute(sa.select(reactions.c.author_id).where(*mine))).first()
            if like and had is None:
                await conn.execute(
                    sa.insert(reactions).values(
                        comment_id=comment_id, author_id=author_id, created_at=utcnow()
                    )
                )
                delta = 1
            elif not like and had is not None:
                await conn.execute(sa.delete(reactions).where(*mine))
                delta = -1
            else:
                return Reacted(reactions=row.reactions, reacted=like)
            await conn.execute(
                sa.update(comments)
                .where(comments.c.id == comment_id)
                .values(reactions=comments.c.reactions + delta)
            )
            return Reacted(reactions=row.reactions + delta, reacted=like)

    async def banned(self, author_id: str) -> bool:
        """A reader under an open (not shadow) ban: refused outright."""
        async with self.store._read() as conn:
            row = (
                await conn.execute(
                    sa.select(authors.c.banned, authors.c.ban_shadow, authors.c.banned_until).where(
                        authors.c.id == author_id
                    )
                )
            ).one_or_none()
        return row is not None and _active(row) and not row.ban_shadow

    async def _shadowed(self, conn: AsyncConnection, author_id: str) -> bool:
        row = (
            await conn.execute(
                sa.select(authors.c.banned, authors.c.ban_shadow, authors.c.banned_until).where(
                    authors.c.id == author_id
                )
            )
        ).one_or_none()
        return row is not None and _active(row) and bool(row.ban_shadow)


def _active(row: Any) -> bool:
    until = row.banned_until
    return bool(row.banned) and (until is None or until > utcnow())
