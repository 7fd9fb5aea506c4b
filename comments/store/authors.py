"""What the console shows around a comment: its thread context, and an author's record
(counts, last comments with their last decision, notes, ban)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from comments.models import Status, format_time
from comments.store.review import _BAN_COLUMNS, ReviewItem, _aware, _ban_of, _item, _item_query
from comments.store.review_tables import audit
from comments.store.store import Store
from comments.store.tables import articles, authors, comments

CONTEXT_BEFORE = 5
AUTHOR_LAST = 20
NOTES_MAX = 100
NOTE_ACTION = "note"


@dataclass(frozen=True)
class Context:
    parent: ReviewItem | None
    before: list[ReviewItem]
    article: dict[str, Any]


async def context(store: Store, item: ReviewItem, *, before: int = CONTEXT_BEFORE) -> Context:
    """The parent, up to ``before`` siblings written just before it (same parent, same
    article; any status: moderators see the whole thread), and the article's state."""
    c = item.comment
    sibling = (
        comments.c.parent_id.is_(None) if c.parent is None else comments.c.parent_id == c.parent
    )
    async with store._read() as conn:
        art = (
            await conn.execute(
                sa.select(articles).where(articles.c.site == c.site, articles.c.key == c.article)
            )
        ).one()
        parent = None
        if c.parent is not None:
            row = (await conn.execute(_item_query().where(comments.c.id == c.parent))).first()
            parent = None if row is None else _item(row)
        rows = await conn.execute(
            _item_query()
            .where(
                comments.c.article_id == art.id,
                sibling,
                sa.tuple_(comments.c.created_at, comments.c.id) < sa.tuple_(c.created_at, c.id),
                comments.c.status != str(Status.PENDING),
            )
            .order_by(comments.c.created_at.desc(), comments.c.id.desc())
            .limit(before)
        )
        earlier = [_item(r) for r in rows][::-1]
        published = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    comments.c.article_id == art.id, comments.c.status == str(Status.PUBLISHED)
                )
            )
        ).scalar_one()
    return Context(
        parent=parent,
        before=earlier,
        article={
            "article": art.key,
            "title": art.title,
            "url": art.url,
            "closed": bool(art.closed),
            "premoderated": bool(art.premoderated),
            "published": int(published),
        },
    )


async def author_record(
    store: Store, site: str, author_id: str, *, last: int = AUTHOR_LAST
) -> dict[str, Any] | None:
    """The author as the console's panel shows it; None when the site has no such author."""
    target = f"author:{author_id}"
    async with store._read() as conn:
        row = (
            await conn.execute(
                sa.select(*_BAN_COLUMNS, authors.c.created_at).where(
                    authors.c.id == author_id, authors.c.site == site
                )
            )
        ).first()
        if row is None:
            return None
        counted = (
            await conn.execute(
                sa.select(
                    sa.func.count().filter(comments.c.status == str(Status.PUBLISHED)),
                    sa.func.count().filter(
                        comments.c.status.in_([str(Status.HELD), str(Status.SHADOWED)])
                    ),
                    sa.func.count().filter(comments.c.status == str(Status.REJECTED)),
                    sa.func.count().filter(comments.c.reports > 0),
                ).where(comments.c.author_id == author_id, comments.c.site == site)
            )
        ).one()
        recent = [
            _item(r)
            for r in await conn.execute(
                _item_query()
                .where(
                    comments.c.author_id == author_id,
                    comments.c.site == site,
                    comments.c.status != str(Status.PENDING),
                )
                .order_by(comments.c.created_at.desc(), comments.c.id.desc())
                .limit(last)
            )
        ]
        decisions: dict[str, dict[str, Any]] = {}
        if recent:
            targets = [f"comment:{i.comment.id}" for i in recent]
            for a in await conn.execute(
                sa.select(audit)
                .where(audit.c.site == site, audit.c.target.in_(targets))
                .order_by(audit.c.id)
            ):
                decisions[a.target.removeprefix("comment:")] = {
                    "action": a.action,
                    "moderator": a.moderator,
                    "at": format_time(_aware(a.at)),
                }
        notes = [
            {
                "id": n.id,
                "moderator": n.moderator,
                "at": format_time(_aware(n.at)),
                "body": json.loads(n.detail).get("body", ""),
            }
            for n in await conn.execute(
                sa.select(audit)
                .where(audit.c.site == site, audit.c.target == target)
                .where(audit.c.action == NOTE_ACTION)
                .order_by(audit.c.id.desc())
                .limit(NOTES_MAX)
            )
        ]
    first_seen: datetime = _aware(row.created_at)
    ban = _ban_of(row)
    active = bool(row.banned) and (ban.until is None or ban.until > datetime.now(first_seen.tzinfo))
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "first_seen": format_time(first_seen),
        "counts": {
            "published": int(counted[0]),
            "held": int(counted[1]),
            "rejected": int(counted[2]),
            "reported": int(counted[3]),
        },
        "comments": [{**i.to_json(), "decision": decisions.get(i.comment.id)} for i in recent],
        "notes": notes,
        "banned": active,
        "ban": ban.to_json() if active else None,
    }


EXCERPT = 80


async def about_targets(store: Store, site: str, targets: list[str]) -> dict[str, dict[str, Any]]:
    """What audit targets name, for the log: a comment's excerpt and article, an
    article's title and address (two queries per page of the log)."""
    ids = [t.removeprefix("comment:") for t in targets if t.startswith("comment:")]
    keys = [t.removeprefix("article:") for t in targets if t.startswith("article:")]
    found: dict[str, dict[str, Any]] = {}
    async with store._read() as conn:
        if ids:
            rows = await conn.execute(
                sa.select(comments.c.id, comments.c.body, articles.c.key, articles.c.title)
                .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
                .where(comments.c.site == site, comments.c.id.in_(ids))
            )
            for r in rows:
                body = r.body if len(r.body) <= EXCERPT else r.body[: EXCERPT - 1] + "…"
                found[f"comment:{r.id}"] = {"excerpt": body, "article": r.key, "title": r.title}
        if keys:
            rows = await conn.execute(
                sa.select(articles.c.key, articles.c.title, articles.c.url).where(
                    articles.c.site == site, articles.c.key.in_(keys)
                )
            )
            for r in rows:
                found[f"article:{r.key}"] = {"article": r.key, "title": r.title, "url": r.url}
    return found
