"""The SQL side of moderator scopes (``comments.moderation.roles``): a WHERE clause
that keeps the articles a moderator may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from comments.store.store import Store
from comments.store.tables import articles, comments


def scope_clause(scopes: Iterable[str], key_column: Any = None) -> Any:
    """``key_column`` (``articles.key`` by default) starts with one of ``scopes``; true
    for no scopes. A prefix match, escaped: ``%`` and ``_`` in a scope are literal, and
    it reads the (site, key) index."""
    column = articles.c.key if key_column is None else key_column
    found = list(scopes)
    if not found:
        return sa.true()
    return sa.or_(*(starts_with(column, prefix) for prefix in found))


def starts_with(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, case included: the escaped ``LIKE`` narrows
    (and may use an index), the ``substr`` comparison makes it exact, since SQLite's
    ``LIKE`` ignores ASCII case (a scope ``sport/`` must not cover ``Sport/…``)."""
    return sa.and_(
        column.startswith(prefix, autoescape=True),
        sa.func.substr(column, 1, len(prefix)) == prefix,
    )


async def author_in_scopes(store: Store, site: str, author_id: str, scopes: Iterable[str]) -> bool:
    """Has the author commented on an article ``scopes`` covers? (A scoped moderator
    bans only authors met in their sections.)"""
    query = (
        sa.select(comments.c.id)
        .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
        .where(comments.c.site == site, comments.c.author_id == author_id, scope_clause(scopes))
        .limit(1)
    )
    async with store._read() as conn:
        return (await conn.execute(query)).first() is not None
