"""Reactions in the database: one "like" per reader per comment, and the count.

A like and the comment's ``reactions`` count change in one transaction, so the count
always equals the likes stored; the primary key makes repeating a like a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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
    # The request named its reader by a guest token that names nobody: nothing was done.
    unknown_reader: bool = False


@dataclass(frozen=True)
class TopPage:
    """A page in order=top: ``next`` is the cursor ``"{reactions}.{seq}"`` or None."""

    comments: list[Comment]
    next: str | None
    latest_seq: int


@dataclass(frozen=True)
class LikeRequest:
    """One reader's like (``like``) or unlike of one comment, as asked. The reader is
    ``author_id``, or, when ``guest_hash`` is set, the site's guest whose token has that
    digest: the batch looks guests up together, one query for all."""

    site: str
    article: str
    comment_id: str
    author_id: str
    like: bool
    guest_hash: str | None = None


@dataclass(frozen=True)
class LikeChange:
    """A comment whose count a batch moved: what open pages are sent."""

    site: str
    article: str
    comment_id: str
    reactions: int
    version: int


@dataclass(frozen=True)
class LikeBatch:
    """A batch's answers, one per request in order (None: no such published comment),
    and the counts it changed."""

    answers: list[Reacted | None]
    changed: list[LikeChange]


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
            # Phases as in react_many (like rows, then counts by id, then versions), so a
            # ban and a like batch lock rows in one order and cannot deadlock.
            gone_ids = set()
            for row in sorted(liked, key=lambda r: r.id):
                gone = await conn.execute(
                    sa.delete(reactions).where(
                        reactions.c.comment_id == row.id, reactions.c.author_id == author_id
                    )
                )
                if gone.rowcount:
                    gone_ids.add(row.id)
            done = []
            for row in sorted(liked, key=lambda r: r.id):
                if row.id not in gone_ids:
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
                done.append((row, int(count)))
            # Versions after counts, as in react_many: one lock order for every writer.
            versions = {
                art: await self._bump(conn, art) for art in sorted({r.article_id for r, _ in done})
            }
            return [Withdrawn(r.key, r.id, n, versions[r.article_id]) for r, n in done]

    async def react(
        self, site: str, article: str, comment_id: str, author_id: str, like: bool
    ) -> Reacted | None:
        """Add (``like``) or drop the reader's like; None when no such published comment.

        A reader under an open ban is refused (``banned``), nothing done. A shadow-banned
        reader's like is not stored: they are answered as if it counted (the public
        count plus theirs), and nobody else sees a change.
        """
        batch = await self.react_many([LikeRequest(site, article, comment_id, author_id, like)])
        return batch.answers[0]

    async def react_many(self, requests: Sequence[LikeRequest]) -> LikeBatch:
        """Several readers' likes and unlikes in one transaction (a group commit: a storm
        of likes on one comment costs one count update and one commit per batch, not per
        like), each answered as :meth:`react` would answer it alone, in order.

        Rows are locked in one order (the readers, shared; comments by id, then versions
        by article), so two nodes' batches never deadlock.
        """
        answers: list[Reacted | None] = [None] * len(requests)
        # No id holds a NUL, and PostgreSQL refuses one in text.
        ids = sorted({r.comment_id for r in requests if "\x00" not in r.comment_id})
        if not ids and all(r.guest_hash is None for r in requests):
            return LikeBatch(answers, [])  # no comment to like, no guest to answer 401
        readers = sorted({r.author_id for r in requests if r.guest_hash is None})
        readers = [a for a in readers if "\x00" not in a]
        hashes = sorted({r.guest_hash for r in requests if r.guest_hash is not None})
        async with self.store._write() as conn:
            # The comments, and the readers with their ban states, in two statements
            # whatever the batch's size: a like is a hot path (docs/benchmarks.md).
            found = {
                row.id: row
                for row in (
                    await conn.execute(
                        sa.select(
                            comments.c.id,
                            comments.c.reactions,
                            articles.c.id.label("article_id"),
                            articles.c.site,
                            articles.c.key,
                        )
                        .select_from(
                            comments.join(articles, comments.c.article_id == articles.c.id)
                        )
                        .where(comments.c.id.in_(ids), comments.c.status == Status.PUBLISHED.value)
                    )
                    if ids
                    else []
                )
            }
            named = []
            if readers:
                named.append(authors.c.id.in_(readers))
            if hashes:
                named.append(authors.c.guest_token_hash.in_(hashes))
            people = (
                (
                    await conn.execute(
                        sa.select(
                            authors.c.id,
                            authors.c.site,
                            authors.c.guest_token_hash,
                            authors.c.banned,
                            authors.c.ban_shadow,
                            authors.c.banned_until,
                        )
                        .where(sa.or_(*named))
                        .order_by(authors.c.id)
                        # PostgreSQL: a ban (an update of these rows) waits for this batch
                        # to commit, so the withdrawal that follows it sees these likes;
                        # or this waits for the ban, and reads it.
                        .with_for_update(read=True)
                    )
                ).all()
                if named
                else []
            )
            bans = {row.id: row for row in people}
            guests = {(row.site, row.guest_token_hash): row.id for row in people}
            unknown = set()
            resolved = []
            for i, r in enumerate(requests):
                if r.guest_hash is not None:
                    author_id = guests.get((r.site, r.guest_hash))
                    if author_id is None:
                        unknown.add(i)
                    r = replace(r, author_id=author_id or "")
                resolved.append(r)
            requests = resolved
            # Per (comment, reader): the last request wins, as it would one after another.
            final: dict[tuple[str, str], bool] = {}
            counted: list[int] = []
            banned: list[tuple[int, bool]] = []  # (index, shadow)
            for i, r in enumerate(requests):
                if i in unknown:
                    answers[i] = Reacted(reactions=0, reacted=False, unknown_reader=True)
                    continue
                row = found.get(r.comment_id)
                if row is None or row.site != r.site or row.key != r.article:
                    continue
                ban = bans.get(r.author_id)
                if ban is not None and _active(ban):
                    banned.append((i, bool(ban.ban_shadow)))  # answered with the batch's count
                    continue
                final[(r.comment_id, r.author_id)] = r.like
                counted.append(i)
            delta: dict[str, int] = {}
            adds = sorted(key for key, like in final.items() if like)
            if adds:
                now = utcnow()
                # Row counts, not a look first: the same reader's like on two nodes at
                # once counts once (the primary key).
                added = self.store._insert(reactions).values(
                    [{"comment_id": c, "author_id": a, "created_at": now} for c, a in adds]
                )
                added = added.on_conflict_do_nothing(
                    index_elements=["comment_id", "author_id"]
                ).returning(reactions.c.comment_id)
                for (cid,) in await conn.execute(added):
                    delta[cid] = delta.get(cid, 0) + 1
            drops: dict[str, list[str]] = {}
            for (cid, author), like in sorted(final.items()):
                if not like:
                    drops.setdefault(cid, []).append(author)
            for cid, gone_authors in drops.items():
                gone = await conn.execute(
                    sa.delete(reactions)
                    .where(reactions.c.comment_id == cid, reactions.c.author_id.in_(gone_authors))
                    .returning(reactions.c.author_id)
                )
                delta[cid] = delta.get(cid, 0) - len(gone.all())
            counts = {cid: int(row.reactions) for cid, row in found.items()}
            moved = sorted(cid for cid, d in delta.items() if d)
            for cid in moved:
                # The count as updated (RETURNING), not as read above: another node's
                # likes may have committed in between; the row lock orders them.
                counts[cid] = int(
                    (
                        await conn.execute(
                            sa.update(comments)
                            .where(comments.c.id == cid)
                            .values(reactions=comments.c.reactions + delta[cid])
                            .returning(comments.c.reactions)
                        )
                    ).scalar_one()
                )
            # Same transaction: no cached page keyed before these likes outlives them,
            # and the version orders the counts the live frames carry.
            versions: dict[int, int] = {}
            for art in sorted({found[cid].article_id for cid in moved}):
                versions[art] = await self._bump(conn, art)
        changed = [
            LikeChange(
                site=found[cid].site,
                article=found[cid].key,
                comment_id=cid,
                reactions=counts[cid],
                version=versions[found[cid].article_id],
            )
            for cid in moved
        ]
        for i in counted:
            r = requests[i]
            version = (
                versions.get(found[r.comment_id].article_id) if delta.get(r.comment_id) else None
            )
            answers[i] = Reacted(reactions=counts[r.comment_id], reacted=r.like, version=version)
        for i, shadow in banned:
            r = requests[i]
            count = counts[r.comment_id]
            if shadow:  # as if it counted: nothing tells a shadow-banned reader apart
                answers[i] = Reacted(reactions=count + int(r.like), reacted=r.like)
            else:
                answers[i] = Reacted(reactions=count, reacted=False, banned=True)
        return LikeBatch(answers, changed)

    async def _bump(self, conn: AsyncConnection, article_id: int) -> int:
        bump = self.store._insert(reaction_versions).values(article_id=article_id, version=1)
        bump = bump.on_conflict_do_update(
            index_elements=["article_id"],
            set_={"version": reaction_versions.c.version + 1},
        ).returning(reaction_versions.c.version)
        return int((await conn.execute(bump)).scalar_one())

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
