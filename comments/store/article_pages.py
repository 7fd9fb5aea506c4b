"""An article's page: its title and address (``articles.title`` / ``articles.url``),
kept from an import, the widget's first post, or a moderator's edit; for the console."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from comments.store.store import Store
from comments.store.tables import articles

UNSET = object()  # "leave this field as it is" (None clears it)


@dataclass(frozen=True)
class Page:
    title: str | None
    url: str | None


async def keep_first(store: Store, site: str, key: str, title: str | None, url: str | None) -> None:
    """Fill what the article does not have yet (each field once; later posts change
    nothing: the first page to post names it, moderators correct it)."""
    values = {}
    if title is not None:
        values["title"] = sa.func.coalesce(articles.c.title, title)
    if url is not None:
        values["url"] = sa.func.coalesce(articles.c.url, url)
    if not values:
        return
    async with store._write() as conn:
        await conn.execute(
            sa.update(articles)
            .where(articles.c.site == site, articles.c.key == key)
            .values(**values)
        )


async def set_page(store: Store, site: str, key: str, *, title: object, url: object) -> Page:
    """A moderator's edit: each field given (a string, or None to clear) replaces it;
    ``UNSET`` leaves it. Creates the article if needed, as other article edits do."""
    await store.set_article_state(site, key)  # the article exists afterwards
    values = {k: v for k, v in (("title", title), ("url", url)) if v is not UNSET}
    async with store._write() as conn:
        if values:
            await conn.execute(
                sa.update(articles)
                .where(articles.c.site == site, articles.c.key == key)
                .values(**values)
            )
        row = (
            await conn.execute(
                sa.select(articles.c.title, articles.c.url).where(
                    articles.c.site == site, articles.c.key == key
                )
            )
        ).one()
    return Page(title=row.title, url=row.url)


async def page_of(store: Store, site: str, key: str) -> Page:
    async with store._read() as conn:
        row = (
            await conn.execute(
                sa.select(articles.c.title, articles.c.url).where(
                    articles.c.site == site, articles.c.key == key
                )
            )
        ).first()
    return Page(None, None) if row is None else Page(title=row.title, url=row.url)
