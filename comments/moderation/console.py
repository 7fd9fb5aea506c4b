"""What the console reads around an item: a comment's thread context, an author's record,
moderator notes on authors (each note is an audit entry: who wrote what, when)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from comments.errors import Code, Refused
from comments.moderation.review import Reviewing
from comments.store.authors import NOTE_ACTION, about_targets, author_record, context
from comments.store.review import Moderator
from comments.store.search import Search, search

NOTE_MAX = 2000


async def comment_context(
    reviewing: Reviewing, moderator: Moderator, comment_id: str
) -> dict[str, Any]:
    """The comment, its parent, the comments just before it in its thread, its article."""
    item = await reviewing.comment_for(moderator, comment_id)
    found = await context(reviewing.store, item)
    return {
        "comment": item.to_json(),
        "parent": None if found.parent is None else found.parent.to_json(),
        "before": [i.to_json() for i in found.before],
        "article": found.article,
    }


async def author_view(reviewing: Reviewing, site: str, author_id: str) -> dict[str, Any]:
    record = await author_record(reviewing.store, site, author_id)
    if record is None:
        raise Refused(Code.NOT_FOUND, "no such author on this site")
    return record


async def add_note(
    reviewing: Reviewing, moderator: Moderator, site: str, author_id: str, body: str
) -> dict[str, Any]:
    """Keep a note on an author; returns the author's record with it."""
    await author_view(reviewing, site, author_id)  # 404 before writing anything
    await reviewing.review.audit(
        site, moderator.name, NOTE_ACTION, f"author:{author_id}", {"body": body}
    )
    return await author_view(reviewing, site, author_id)


async def search_comments(
    reviewing: Reviewing,
    site: str,
    query: Search,
    *,
    limit: int,
    cursor: tuple[datetime, str] | None,
    prefixes: list[str] | None = None,
) -> dict[str, Any]:
    """A page of the site's comments matching ``query``, newest first; ``prefixes``: the
    article-id prefixes a scoped moderator may see (None: every article)."""
    items, nxt = await search(
        reviewing.store, site, query, limit=limit, cursor=cursor, prefixes=prefixes
    )
    return {"items": [i.to_json() for i in items], "next": nxt}


async def audit_about(
    reviewing: Reviewing, site: str, entries: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What the audit entries' targets name (comment excerpts, article titles)."""
    return await about_targets(reviewing.store, site, sorted({e["target"] for e in entries}))
