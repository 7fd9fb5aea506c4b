"""Reactions in the database: one "like" per reader per comment, and the count.

A like and the comment's ``reactions`` count change in one transaction, so the count
always equals the likes stored; the primary key makes repeating a like a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from comments.models import Comment, Status, utcnow
from comments.store.reaction_tables import reaction_versions, reactions
from comments.store.store import Store, _comment_columns, _row_to_comment
from comments.store.tables import articles, authors, comments


@dataclass(frozen=True)
class Reacted:
    """What a reader is answered: the count as they see it, and whether they like it."""

    reactions: int
    reacted: bool
    # The article's reaction version after a change that counted; None when nothing
    # changed publicly (a repeat, or a shadow-banned reader): no live frame then.
    version: int | None = None
    # The reader is under an open (not shadow) ban: nothing was done.
    banned: bool = False


@dataclass(frozen=True)
class TopPage:
    """A page in order=top: ``next`` is the cursor ``"{reactions}.{seq}"`` or None."""

    comments: list[Comment]
    next: str | None
    latest_seq: int


@dataclass(frozen=True)
class Withdrawn:
    """A comment's count after a banned reader's like was taken off it."""

    article: str
    comment_id: str
    reactions: int
    version: int


class ReactionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def withdraw(self, site: str, author_id: str) -> list[Withdrawn]:
        """Take a banned reader's likes off every comment of the site: their rows are
        deleted (a ban's likes are not given back when it ends) and each count lowered,
        in one transaction that also bumps the articles' reaction versions."""
        async with self.store._write() as conn:
            liked = (
                await conn.execute(
                    sa.select(comments.c.id, articles.c.id.label("article_id"), articles.c.key)
                    .select_from(
                        reactions.join(comments, reactions.c.comment_id == comments.c.id).join(
                            articles, comments.c.article_id == articles.c.id
                        )
                    )
                    .where(reactions.c.author_id == author_id, articles.c.site == site)
                )
            ).all()
            if not liked:
                return []
            versions: dict[int, int] = {}
            for row in liked:
                if row.article_id not in versions:
                    bump = self.store._insert(reaction_versions).values(
                        article_id=row.article_id, version=1
                    )
                    bump = bump.on_conflict_do_update(
                        index_elements=["article_id"],
                        set_={"version": reaction_versions.c.version + 1},
                    ).returning(reaction_versions.c.version)
                    versions[row.article_id] = int((await conn.execute(bump)).scalar_one())
            done = []
            for row in liked:
                gone = await conn.execute(
                    sa.delete(reactions).where(
                        reactions.c.comment_id == row.id, reactions.c.author_id == author_id
                    )
                )
                if not gone.rowcount:
                    continue
                count = (
                    await conn.execute(
                        sa.update(comments)
                        .where(comments.c.id == row.id)
                        .values(
                            reactions=sa.case(
                                (comments.c.reactions > 0, comments.c.reactions - 1), else_=0
                            )
                        )
                        .returning(comments.c.reactions)
                    )
                ).scalar_one()
                done.append(Withdrawn(row.key, row.id, int(count), versions[row.article_id]))
            return done

    async def react(
        self, site: str, article: str, comment_id: str, author_id: str, like: bool
    ) -> Reacted | None:
        """Add (``like``) or drop the reader's like; None when no such published comment.

        A reader under an open ban is refused (``banned``), nothing done. A shadow-banned
        reader's like is not stored: they are answered as if it counted (the public
        count plus theirs), and nobody else sees a change.
        """
        if "\x00" in comment_id:  # no id holds one, and PostgreSQL refuses it in text
            return None
        async with self.store._write() as conn:
            # The comment and the reader's ban state in one statement: a like is a hot
            # path (docs/benchmarks.md, "Reactions"), every round trip counts.
            reader = authors.c.id == author_id
            row = (
                await conn.execute(
                    sa.select(
                        comments.c.reactions,
                        articles.c.id.label("article_id"),
                        authors.c.banned,
                        authors.c.ban_shadow,
                        authors.c.banned_until,
                    )
                    .select_from(
                        comments.join(articles, comments.c.article_id == articles.c.id).outerjoin(
                            authors, reader
                        )
                    )
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
            if _active(row):
                if not row.ban_shadow:
                    return Reacted(reactions=row.reactions, reacted=False, banned=True)
                return Reacted(reactions=row.reactions + int(like), reacted=like)
            mine = reactions.c.comment_id == comment_id, reactions.c.author_id == author_id
            # Row counts, not a look first: two requests of one reader at once count once.
            if like:
                added = self.store._insert(reactions).values(
                    comment_id=comment_id, author_id=author_id, created_at=utcnow()
                )
                added = added.on_conflict_do_nothing(index_elements=["comment_id", "author_id"])
                delta = (await conn.execute(added)).rowcount
            else:
                delta = -(await conn.execute(sa.delete(reactions).where(*mine))).rowcount
            if delta == 0:
                return Reacted(reactions=row.reactions, reacted=like)
            # The count as updated (RETURNING), not as read above: likes of other readers
            # may have committed in between; the row lock orders them.
            count = (
                await conn.execute(
                    sa.update(comments)
                    .where(comments.c.id == comment_id)
                    .values(reactions=comments.c.reactions + delta)
                    .returning(comments.c.reactions)
                )
            ).scalar_one()
            # Same transaction: no cached page keyed before this like outlives it, and
            # the version orders the counts the live frames carry.
            bump = self.store._insert(reaction_versions).values(
                article_id=row.article_id, version=1
            )
            bump = bump.on_conflict_do_update(
                index_elements=["article_id"],
                set_={"version": reaction_versions.c.version + 1},
            ).returning(reaction_versions.c.version)
            version = int((await conn.execute(bump)).scalar_one())
            return Reacted(reactions=int(count), reacted=like, version=version)

    async def marks(self, site: str, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Each existing article's ``(last_seq, reactions_version)``: what a cached page
        of it depends on (comments.web.cached_reads), in one indexed query."""
        if not keys:
            return {}
        async with self.store._read() as conn:
            joined = articles.outerjoin(
                reaction_versions, reaction_versions.c.article_id == articles.c.id
            )
            rows = await conn.execute(
                sa.select(articles.c.key, articles.c.last_seq, reaction_versions.c.version)
                .select_from(joined)
                .where(articles.c.site == site, articles.c.key.in_(list(keys)))
            )
            return {r.key: (r.last_seq, r.version or 0) for r in rows}

    async def top(
        self, site: str, article: str, cursor: tuple[int, int] | None, limit: int
    ) -> TopPage:
        """One page of published comments, most liked first, then newest: by keyset on
        ``(reactions, seq)`` (``cursor`` is the last one's pair on the previous page)."""
        async with self.store._read() as conn:
            art = (
                await conn.execute(
                    sa.select(articles.c.id, articles.c.last_seq).where(
                        articles.c.site == site, articles.c.key == article
                    )
                )
            ).one_or_none()
            if art is None:
                return TopPage(comments=[], next=None, latest_seq=0)
            q = (
                sa.select(*_comment_columns())
                .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                .where(comments.c.article_id == art.id, comments.c.status == Status.PUBLISHED)
            )
            if cursor is not None:
                likes, seq = cursor
                q = q.where(
                    sa.or_(
                        comments.c.reactions < likes,
                        sa.and_(comments.c.reactions == likes, comments.c.seq < seq),
                    )
                )
            q = q.order_by(comments.c.reactions.desc(), comments.c.seq.desc())
            rows = (await conn.execute(q.limit(limit + 1))).all()
        page = [_row_to_comment(r) for r in rows[:limit]]
        last = page[-1] if len(rows) > limit and page else None
        nxt = None if last is None else f"{last.reactions}.{last.seq}"
        return TopPage(comments=page, next=nxt, latest_seq=int(art.last_seq))

    async def liked_by(self, author_id: str, comment_ids: Sequence[str]) -> set[str]:
        """Which of ``comment_ids`` this reader likes (one primary-key lookup each)."""
        if not comment_ids:
            return set()
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(reactions.c.comment_id).where(
                    reactions.c.author_id == author_id,
                    reactions.c.comment_id.in_(list(comment_ids)),
                )
            )
            return {r.comment_id for r in rows}


def _active(row: Any) -> bool:
    until = row.banned_until
    return bool(row.banned) and (until is None or until > utcnow())
