"""Bulk writes of imports and streamed reads of exports.

An import writes many comments per transaction (``executemany``): each article touched
reserves as many seqs as it gets published comments with one ``UPDATE … RETURNING``, so
its seqs stay contiguous, follow the events it already had, and interleave safely with
posts arriving meanwhile (they serialise on the article row as usual).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from comments.models import Author, Comment, EventType, Status, published_event, utcnow
from comments.store.store import EventRow, Store
from comments.store.tables import UNSCORED_RISK, articles, authors, comments, events, imported


@dataclass(slots=True)
class NewAuthor:
    id: str
    name: str
    kind: str  # "imported", or "sso" for an identity of this same site kept from an export


@dataclass(slots=True)
class NewComment:
    id: str
    source_id: str
    parent: str | None
    author_id: str
    author_name: str
    body: str
    status: Status
    created_at: datetime
    scores: dict[str, float] | None = None
    reasons: list[str] | None = None
    unscored: bool = False
    risk: float = UNSCORED_RISK  # the moderation queue's order (comments.store.queue)


@dataclass(slots=True)
class ArticleBatch:
    """Comments for one article, in the order they are to take seqs."""

    key: str
    title: str | None
    url: str | None
    comments: list[NewComment]


@dataclass(frozen=True, slots=True)
class Written:
    """An article's last new event (the broker hint for open pages), if any."""

    key: str
    last_event: EventRow | None


class TransferStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def imported_ids(self, site: str, source: str) -> set[str]:
        """Source ids of comments already imported from ``source`` into ``site``."""
        async with self.store._read() as conn:
            rows = await conn.execute(
                sa.select(imported.c.source_id).where(
                    imported.c.site == site, imported.c.source == source
                )
            )
            return {r.source_id for r in rows}

    async def write(
        self,
        site: str,
        source: str,
        batches: Sequence[ArticleBatch],
        new_authors: Sequence[NewAuthor],
    ) -> list[Written]:
        """Write these articles' comments (and the authors first seen) in one transaction."""
        now = utcnow()
        written: list[Written] = []
        async with self.store._write() as conn:
            if new_authors:
                await conn.execute(
                    self.store._insert(authors).on_conflict_do_nothing(index_elements=["id"]),
                    [
                        {
                            "id": a.id,
                            "site": site,
                            "kind": a.kind,
                            "name": a.name,
                            "created_at": now,
                        }
                        for a in new_authors
                    ],
                )
            comment_rows: list[dict[str, Any]] = []
            event_rows: list[dict[str, Any]] = []
            for batch in batches:
                article_id = await self._article(conn, site, batch)
                published = sum(1 for c in batch.comments if c.status is Status.PUBLISHED)
                seq = 0
                if published:
                    last = (
                        await conn.execute(
                            sa.update(articles)
                            .where(articles.c.id == article_id)
                            .values(last_seq=articles.c.last_seq + published)
                            .returning(articles.c.last_seq)
                        )
                    ).scalar_one()
                    seq = int(last) - published
                last_event: EventRow | None = None
                for c in batch.comments:
                    number: int | None = None
                    if c.status is Status.PUBLISHED:
                        seq += 1
                        number = seq
                        payload = published_event(seq, _comment(site, batch.key, c, seq))
                        event_rows.append(
                            {
                                "article_id": article_id,
                                "seq": seq,
                                "type": str(EventType.PUBLISHED),
                                "comment_id": c.id,
                                "payload": payload,
                                "created_at": now,
                            }
                        )
                        last_event = EventRow(seq=seq, payload=payload)
                    comment_rows.append(
                        {
                            "id": c.id,
                            "site": site,
                            "article_id": article_id,
                            "parent_id": c.parent,
                            "author_id": c.author_id,
                            "author_name": c.author_name,
                            "body": c.body,
                            "status": str(c.status),
                            "seq": number,
                            "scores": None if c.scores is None else json.dumps(c.scores),
                            "reasons": None if c.reasons is None else json.dumps(c.reasons),
                            "created_at": c.created_at,
                            "updated_at": now,
                            "unscored": c.unscored,
                            "risk": c.risk,
                        }
                    )
                written.append(Written(batch.key, last_event))
            if comment_rows:
                await conn.execute(sa.insert(comments), comment_rows)
                await conn.execute(
                    sa.insert(imported),
                    [
                        {
                            "site": site,
                            "source": source,
                            "source_id": row_source,
                            "comment_id": row["id"],
                            "imported_at": now,
                        }
                        for row, row_source in zip(
                            comment_rows,
                            (c.source_id for b in batches for c in b.comments),
                            strict=True,
                        )
                    ],
                )
            if event_rows:
                await conn.execute(sa.insert(events), event_rows)
        return written

    async def _article(self, conn: AsyncConnection, site: str, batch: ArticleBatch) -> int:
        row = (
            await conn.execute(
                sa.select(articles.c.id, articles.c.title, articles.c.url).where(
                    articles.c.site == site, articles.c.key == batch.key
                )
            )
        ).first()
        if row is None:
            await conn.execute(
                sa.insert(articles).values(
                    site=site, key=batch.key, title=batch.title, url=batch.url, created_at=utcnow()
                )
            )
            return int(
                (
                    await conn.execute(
                        sa.select(articles.c.id).where(
                            articles.c.site == site, articles.c.key == batch.key
                        )
                    )
                ).scalar_one()
            )
        # Fill in what the article lacks; never overwrite what an operator set.
        missing = {
            k: v
            for k, v in (("title", batch.title), ("url", batch.url))
            if v and getattr(row, k) is None
        }
        if missing:
            await conn.execute(sa.update(articles).where(articles.c.id == row.id).values(**missing))
        return int(row.id)

    # -- export -----------------------------------------------------------------------

    async def export_rows(
        self, site: str, *, article: str | None, since: datetime | None
    ) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(article, comment) pairs of a site, article by article, each article's comments
        in the order its thread lists them (published by seq), then the others by time.
        Streamed from the database: memory does not grow with the site."""
        query = (
            sa.select(
                articles.c.key,
                articles.c.title,
                articles.c.url,
                articles.c.closed,
                articles.c.premoderated,
                comments.c.id,
                comments.c.parent_id,
                comments.c.author_id,
                comments.c.author_name,
                comments.c.body,
                comments.c.status,
                comments.c.seq,
                comments.c.scores,
                comments.c.reasons,
                comments.c.reports,
                comments.c.created_at,
                comments.c.updated_at,
            )
            .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
            .where(comments.c.site == site)
            .order_by(
                articles.c.key,
                comments.c.seq.is_(None),
                comments.c.seq,
                comments.c.created_at,
                comments.c.id,
            )
        )
        if article is not None:
            query = query.where(articles.c.key == article)
        if since is not None:
            query = query.where(comments.c.created_at >= since)
        async with self.store._read() as conn:
            result = await conn.stream(query.execution_options(yield_per=1000))
            async for row in result:
                yield (
                    {
                        "key": row.key,
                        "title": row.title,
                        "url": row.url,
                        "closed": bool(row.closed),
                        "premoderated": bool(row.premoderated),
                    },
                    {
                        "id": row.id,
                        "parent": row.parent_id,
                        "author_id": row.author_id,
                        "author_name": row.author_name,
                        "body": row.body,
                        "status": row.status,
                        "seq": row.seq,
                        "scores": json.loads(row.scores) if row.scores else {},
                        "reasons": json.loads(row.reasons) if row.reasons else [],
                        "reports": int(row.reports),
                        "created_at": row.created_at,
                        "updated_at": row.updated_at,
                    },
                )


def _comment(site: str, key: str, c: NewComment, seq: int) -> Comment:
    return Comment(
        id=c.id,
        site=site,
        article=key,
        parent=c.parent,
        author=Author(id=c.author_id, name=c.author_name),
        body=c.body,
        status=Status.PUBLISHED,
        seq=seq,
        created_at=c.created_at,
    )
