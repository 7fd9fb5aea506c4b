"""What an Atom feed shows: a site's or an article's latest published comments, and
the seq its ETag is made from (docs/api.md, "Feeds")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from comments.models import Status
from comments.store.store import Store
from comments.store.tables import articles, comments

FEED_SIZE = 50


@dataclass(frozen=True)
class Entry:
    id: str
    article: str
    title: str | None
    url: str | None
    author_name: str
    body: str
    parent: str | None
    seq: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Feed:
    version: str  # changes whenever anything a reader sees may have changed
    entries: list[Entry]


async def latest(store: Store, site: str, article: str | None, limit: int = FEED_SIZE) -> Feed:
    """Published comments only: shadowed, held, removed and withdrawn ones never appear.
    The version is the newest event seq of the article (or, for a site, of each article),
    so a removal or edit (its own event) changes it too."""
    where = [comments.c.site == site, comments.c.status == Status.PUBLISHED.value]
    scope = [articles.c.site == site]
    if article is not None:
        where.append(articles.c.key == article)
        scope.append(articles.c.key == article)
    query = (
        sa.select(
            comments.c.id,
            articles.c.key,
            articles.c.title,
            articles.c.url,
            comments.c.author_name,
            comments.c.body,
            comments.c.parent_id,
            comments.c.seq,
            comments.c.created_at,
            comments.c.updated_at,
        )
        .join(articles, articles.c.id == comments.c.article_id)
        .where(*where)
        .order_by(comments.c.created_at.desc(), comments.c.id.desc())
        .limit(limit)
    )
    # Sum and count of the articles' last seqs: any new event on any article moves it.
    version_q = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(articles.c.last_seq), 0)
    ).where(*scope)
    async with store._read() as conn:
        rows = (await conn.execute(query)).all()
        count, total = (await conn.execute(version_q)).one()
    entries = [
        Entry(
            id=r.id,
            article=r.key,
            title=r.title,
            url=r.url,
            author_name=r.author_name,
            body=r.body,
            parent=r.parent_id,
            seq=int(r.seq or 0),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return Feed(version=f"{int(count)}-{int(total)}", entries=entries)
