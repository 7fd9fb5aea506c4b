"""What thread listings add to the published comments: tombstones and permalinks.

A tombstone stands where a removed comment was while published replies hang under it:
its id, parent and place (seq), never its text or author. Tombstones are derived from
the page being listed (the non-published ancestors of its comments), so removing the
last reply of one removes it from listings with no state to keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from comments.models import Comment, Status
from comments.store.store import Page, Store
from comments.store.tables import articles, comments

#: How far up a chain of removed ancestors a listing follows (the widget nests a few
#: levels; replies deeper than this keep their parent id all the same).
ANCESTORS_MAX = 20


@dataclass(frozen=True)
class Tombstone:
    id: str
    site: str
    article: str
    parent: str | None
    seq: int | None

    def to_json(self) -> dict[str, Any]:
        """The placeholder's wire form (docs/api.md, "Tombstones")."""
        return {
            "id": self.id,
            "site": self.site,
            "article": self.article,
            "parent": self.parent,
            "tombstone": True,
            "status": "removed",
            "author": None,
            "body": None,
            "seq": self.seq,
        }


@dataclass(frozen=True)
class Context:
    """A comment with its neighbours in oldest order, and the cursors beyond them."""

    comment: Comment
    before: list[Comment]
    after: list[Comment]
    before_cursor: int | None  # pass as ``before`` with order=newest for older ones
    after_cursor: int | None  # pass as ``after`` with order=oldest for newer ones
    latest_seq: int


class ThreadStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def tombstones(self, page: Sequence[Comment]) -> list[Tombstone]:
        """The removed ancestors of ``page``'s comments (those with a published
        descendant on this page), nearest first."""
        seen = {c.id for c in page}
        wanted = {c.parent for c in page if c.parent is not None and c.parent not in seen}
        found: list[Tombstone] = []
        for _ in range(ANCESTORS_MAX):
            if not wanted:
                break
            seen |= wanted
            async with self.store._read() as conn:
                rows = await conn.execute(
                    sa.select(
                        comments.c.id,
                        comments.c.site,
                        articles.c.key,
                        comments.c.parent_id,
                        comments.c.status,
                        comments.c.removed_seq,
                    )
                    .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                    .where(comments.c.id.in_(sorted(wanted)))
                )
            wanted = set()
            for r in rows:
                if r.status in (Status.PUBLISHED, Status.SHADOWED):
                    continue  # listed on another page (or, shadowed, to its author alone)
                found.append(Tombstone(r.id, r.site, r.key, r.parent_id, r.removed_seq))
                if r.parent_id is not None and r.parent_id not in seen:
                    wanted.add(r.parent_id)
        return found

    async def context(self, comment: Comment, *, limit: int, viewer: str | None = None) -> Context:
        """``comment`` (published) with up to ``limit`` comments either side of it."""
        assert comment.seq is not None
        older: Page = await self.store.list_published(
            comment.site,
            comment.article,
            newest_first=True,
            cursor=comment.seq,
            limit=limit,
            viewer=viewer,
        )
        newer: Page = await self.store.list_published(
            comment.site,
            comment.article,
            newest_first=False,
            cursor=comment.seq,
            limit=limit,
            viewer=viewer,
        )
        return Context(
            comment=comment,
            before=older.comments[::-1],
            after=newer.comments,
            before_cursor=older.next,
            after_cursor=newer.next,
            latest_seq=max(older.latest_seq, newer.latest_seq),
        )
