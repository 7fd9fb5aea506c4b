"""Moderator search over a site's comments (docs/api.md, "Search"): the database's own
full-text search (PostgreSQL: ``to_tsvector('simple', body)`` over a GIN index; SQLite:
the FTS5 table ``comments_fts``), never a LIKE scan; newest first, keyset-paged."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from comments.models import Status
from comments.store.queue import _scope
from comments.store.review import ReviewItem, _item, _item_query
from comments.store.store import Store
from comments.store.tables import UTCDateTime, articles, comments

SEARCH_PAGE_MAX = 100
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Search:
    q: str | None = None
    author: str | None = None
    article: str | None = None
    status: Status | None = None
    since: datetime | None = None
    until: datetime | None = None


def encode_cursor(at: datetime, comment_id: str) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat() if at.tzinfo else at.isoformat(), comment_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, comment_id = json.loads(raw)
        when = datetime.fromisoformat(at)
    except (ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(comment_id, str) or len(comment_id) > 64:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), comment_id


def fts5_query(q: str) -> str | None:
    """Words of ``q`` as FTS5 phrases, all required: no operator a moderator types can
    make a syntax error."""
    words = WORD.findall(q)
    return " ".join('"' + w.replace('"', '""') + '"' for w in words) or None


async def search(
    store: Store,
    site: str,
    query: Search,
    *,
    limit: int,
    cursor: tuple[datetime, str] | None = None,
    prefixes: list[str] | None = None,
) -> tuple[list[ReviewItem], str | None]:
    """Matching comments of ``site``, newest first, and the next page's cursor."""
    where = [comments.c.site == site, comments.c.status != str(Status.PENDING)]
    if query.q is not None:
        if store.is_sqlite:
            match = fts5_query(query.q)
            if match is None:
                return [], None
            where.append(
                sa.literal_column("comments.rowid").in_(
                    sa.select(sa.literal_column("rowid"))
                    .select_from(sa.table("comments_fts"))
                    .where(sa.text("comments_fts MATCH :match").bindparams(match=match))
                )
            )
        else:
            where.append(
                sa.func.to_tsvector(sa.literal_column("'simple'"), comments.c.body).op("@@")(
                    sa.func.websearch_to_tsquery(sa.literal_column("'simple'"), query.q)
                )
            )
    if query.author is not None:
        where.append(comments.c.author_id == query.author)
    if query.article is not None:
        where.append(articles.c.key == query.article)
    if query.status is not None:
        where.append(comments.c.status == str(query.status))
    if query.since is not None:
        where.append(comments.c.created_at >= query.since)
    if query.until is not None:
        where.append(comments.c.created_at < query.until)
    scope = _scope(prefixes)
    if scope is not None:
        where.append(scope)
    if cursor is not None:
        at, last_id = cursor
        where.append(
            sa.tuple_(comments.c.created_at, comments.c.id)
            < sa.tuple_(sa.literal(at, UTCDateTime), sa.literal(last_id))
        )
    page = (
        _item_query()
        .add_columns(comments.c.created_at.label("at"))
        .where(*where)
        .order_by(comments.c.created_at.desc(), comments.c.id.desc())
        .limit(limit + 1)
    )
    async with store._read() as conn:
        rows = (await conn.execute(page)).all()
    items = [_item(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor(last.at, last.id)
    return items, nxt
