"""The moderation queue at any length: keyset pages by (risk, id), riskiest first, over
the partial index ``ix_comments_queue`` (docs/api.md, "Moderation queue")."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from comments.models import Status
from comments.store.review import ReviewItem, _item, _item_query
from comments.store.roles import starts_with
from comments.store.store import Store
from comments.store.tables import QUEUE_PREDICATE, articles, comments

FILTERS = ("all", "held", "reported", "premoderated", "unscored")
PREMODERATED_REASON = "pre-moderated"
COUNT_CAP = 1_000


@dataclass(frozen=True)
class QueuePage:
    items: list[ReviewItem]
    next: str | None
    counts: dict[str, int]


def encode_cursor(risk: float, comment_id: str) -> str:
    raw = json.dumps([risk, comment_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str] | None:
    """The (risk, id) a cursor names; None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        risk, comment_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        return None
    if (
        not isinstance(risk, int | float)
        or isinstance(risk, bool)
        or not isinstance(comment_id, str)
    ):
        return None
    if not math.isfinite(risk) or len(comment_id) > 64:
        return None
    return float(risk), comment_id


def _in_queue(reports_before_review: int) -> Any:
    reported = (
        sa.and_(
            comments.c.status == str(Status.PUBLISHED),
            comments.c.reports >= reports_before_review,
        )
        if reports_before_review > 0
        else sa.false()
    )
    return sa.and_(
        # Word for word the index's predicate, so the planner can use it.
        sa.text(f"({QUEUE_PREDICATE})"),
        sa.or_(comments.c.status.in_([str(Status.HELD), str(Status.SHADOWED)]), reported),
    )


def _filter(name: str, c: Any = comments.c) -> Any:
    if name == "held":
        return c.status.in_([str(Status.HELD), str(Status.SHADOWED)])
    if name == "reported":
        return c.reports > 0
    if name == "premoderated":
        return c.reasons.contains(json.dumps(PREMODERATED_REASON))
    if name == "unscored":
        return c.unscored.is_(True)
    return sa.true()


async def queue_page(
    store: Store,
    site: str,
    *,
    reports_before_review: int,
    limit: int,
    cursor: tuple[float, str] | None = None,
    only: str = "all",
    prefixes: list[str] | None = None,
) -> QueuePage:
    """One page of the queue, riskiest first (unscored before all), and the number of
    queued comments each filter selects. ``prefixes``: article keys a scoped moderator
    may see (None: all)."""
    where = [comments.c.site == site, _in_queue(reports_before_review), _filter(only)]
    scope = _scope(prefixes)
    if scope is not None:
        where.append(scope)
    page = _item_query().add_columns(comments.c.risk).where(*where)
    if cursor is not None:
        page = page.where(sa.tuple_(comments.c.risk, comments.c.id) < sa.tuple_(*cursor))
    page = page.order_by(comments.c.risk.desc(), comments.c.id.desc()).limit(limit + 1)
    base = [comments.c.site == site, _in_queue(reports_before_review)]
    if scope is not None:
        base.append(scope)
    # Counted over the riskiest COUNT_CAP queued comments at most (read in index order):
    # a count of a 100,000-item queue would cost more than the page itself.
    capped = (
        sa.select(comments.c.status, comments.c.reports, comments.c.reasons, comments.c.unscored)
        .select_from(comments.join(articles, comments.c.article_id == articles.c.id))
        .where(*base)
        .order_by(comments.c.risk.desc(), comments.c.id.desc())
        .limit(COUNT_CAP)
        .subquery()
    )
    counting = sa.select(
        *(sa.func.count().filter(_filter(name, capped.c)).label(name) for name in FILTERS)
    )
    async with store._read() as conn:
        rows = (await conn.execute(page)).all()
        count_row = (await conn.execute(counting)).one()
    items = [_item(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor(float(last.risk), last.id)
    return QueuePage(items=items, next=nxt, counts={n: int(getattr(count_row, n)) for n in FILTERS})


def _scope(prefixes: list[str] | None) -> Any:
    if prefixes is None:
        return None
    if not prefixes:
        return sa.false()
    return sa.or_(*(starts_with(articles.c.key, p) for p in prefixes))


RERANK_BATCH = 1_000


async def rerank(store: Store, site: str, risk_of: Callable[[dict[str, float]], float]) -> int:
    """Store every scored comment's risk again with ``risk_of`` (the site's thresholds
    changed); in batches by id, so a large site is not one long transaction. Returns how
    many comments it read."""
    after = ""
    seen = 0
    while True:
        async with store._write() as conn:
            rows = (
                await conn.execute(
                    sa.select(comments.c.id, comments.c.scores)
                    .where(
                        comments.c.site == site,
                        comments.c.scores.is_not(None),
                        comments.c.id > after,
                    )
                    .order_by(comments.c.id)
                    .limit(RERANK_BATCH)
                )
            ).all()
            if not rows:
                return seen
            updates = []
            for r in rows:
                try:
                    scores = json.loads(r.scores)
                except ValueError:
                    continue
                if isinstance(scores, dict):
                    updates.append({"cid": r.id, "risk": risk_of(scores)})
            if updates:
                await conn.execute(
                    sa.update(comments)
                    .where(comments.c.id == sa.bindparam("cid"))
                    .values(risk=sa.bindparam("risk")),
                    updates,
                )
            seen += len(rows)
            after = rows[-1].id
