"""Moderation benchmark: the queue's first page on a 100,000-item queue, and a search
over 1,000,000 comments (docs/operations.md, "Benchmarks").

The comments are seeded in bulk, in SQL (PostgreSQL ``generate_series``, SQLite a
recursive CTE), straight into a migrated database: held ones with a spread of stored
risks, the rest published, on 100 articles. Each body carries one of 1,000 rare words
(``needle0`` … ``needle999``), so a search finds about 0.1% of the comments.

Then the Store's own functions (``comments.store.queue.queue_page``,
``comments.store.search.search``) are timed, first page of 50, median of several runs,
and the statements they send are captured and explained (``EXPLAIN`` after ``ANALYZE`` on
PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite): ``*_index_used`` is 1 when the plan reads
the queue's partial index / the full-text index (no sequential scan of comments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from comments.bench import Context, Figures, Section, Target
from comments.bench.database import SITE, fresh_database
from comments.store import Store, create_store
from comments.store.queue import queue_page
from comments.store.search import Search, search

QUEUE = 100_000
COMMENTS = 1_000_000
QUICK_QUEUE = 10_000
QUICK_COMMENTS = 50_000
RUNS = 7
WORD = "needle42"

_PG_SEED = """
INSERT INTO comments (id, site, article_id, author_id, author_name, body, status, seq,
                      created_at, updated_at, risk, scores, reasons)
SELECT 'b' || lpad(i::text, 12, '0'), :site, :first + (i % 100), 'bench-author', 'Reader',
       'Comment ' || i || ' on the council vote, needle' || (i % 1000),
       CASE WHEN i <= :queue THEN 'held' ELSE 'published' END,
       CASE WHEN i <= :queue THEN NULL ELSE i END,
       now() - i * interval '1 second', now(),
       random() * 2, '{}', '[]'
FROM generate_series(1, :count) AS i
"""
_SQLITE_SEED = """
INSERT INTO comments (id, site, article_id, author_id, author_name, body, status, seq,
                      created_at, updated_at, risk, scores, reasons, reports, unscored)
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :count)
SELECT 'b' || substr('000000000000' || i, -12), :site, :first + (i % 100), 'bench-author',
       'Reader', 'Comment ' || i || ' on the council vote, needle' || (i % 1000),
       CASE WHEN i <= :queue THEN 'held' ELSE 'published' END,
       CASE WHEN i <= :queue THEN NULL ELSE i END,
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || i || ' seconds'),
       strftime('%Y-%m-%d %H:%M:%f', 'now'),
       abs(random() % 2000) / 1000.0, '{}', '[]', 0, 0
FROM s
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--moderation-queue",
        type=int,
        default=None,
        help=f"held comments (default {QUEUE:,}, {QUICK_QUEUE:,} with --quick)",
    )
    group.add_argument(
        "--moderation-comments",
        type=int,
        default=None,
        help=f"comments in all (default {COMMENTS:,}, {QUICK_COMMENTS:,} with --quick)",
    )
    group.add_argument(
        "--moderation-database",
        default="sqlite",
        metavar="sqlite|URL",
        help="'sqlite' (a new file, the default) or a postgresql:// URL (a new database "
        "is created there and dropped after)",
    )


async def seed(store: Store, *, queue: int, count: int) -> None:
    """``count`` comments of which the first ``queue`` are held, in one statement."""
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO authors (id, site, kind, name, created_at) "
                "VALUES ('bench-author', :site, 'guest', 'Reader', CURRENT_TIMESTAMP)"
            ),
            {"site": SITE},
        )
        for a in range(100):
            await conn.execute(
                sa.text(
                    "INSERT INTO articles (site, key, created_at) "
                    "VALUES (:site, :key, CURRENT_TIMESTAMP)"
                ),
                {"site": SITE, "key": f"2026/12/story-{a}"},
            )
        first = (
            await conn.execute(
                sa.text("SELECT min(id) FROM articles WHERE site = :site"), {"site": SITE}
            )
        ).scalar_one()
        await conn.execute(
            sa.text(_SQLITE_SEED if store.is_sqlite else _PG_SEED),
            {"site": SITE, "first": first, "queue": queue, "count": count},
        )
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE"))


async def _timed(call: Any) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(store: Store) -> tuple[Figures, dict[str, list[str]]]:
    """Median milliseconds of each first page, and the plans of the queries they ran."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    async def first_queue_page() -> None:
        page = await queue_page(store, SITE, reports_before_review=3, limit=50)
        if len(page.items) != 50 or page.next is None:
            raise RuntimeError("the queue's first page is not 50 items")

    async def first_search_page() -> None:
        items, _ = await search(store, SITE, Search(q=WORD), limit=50)
        if len(items) != 50:
            raise RuntimeError(f"a search for {WORD} found {len(items)} comments, not 50")

    figures: Figures = {}
    for name, call in (("queue", first_queue_page), ("search", first_search_page)):
        await call()  # warm-up: connection, statement cache
        figures[f"moderation_{name}_ms"] = statistics.median(
            [await _timed(call) for _ in range(RUNS)]
        )
    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        await first_queue_page()
        await first_search_page()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    plans: dict[str, list[str]] = {}
    wanted = {"queue": "ORDER BY comments.risk DESC", "search": "ORDER BY comments.created_at"}
    async with store.engine.connect() as conn:
        for name, marker in wanted.items():
            statement, parameters = next((s, p) for s, p in captured if marker in s)
            explain = "EXPLAIN QUERY PLAN " if store.is_sqlite else "EXPLAIN "
            rows = (await conn.exec_driver_sql(explain + statement, parameters)).all()
            plans[name] = [str(row[-1]) for row in rows]
    return figures, plans


def uses_index(plan: list[str], index: str, *, sqlite: bool) -> bool:
    text = "\n".join(plan)
    if sqlite:
        return index in text and not any(
            line.startswith("SCAN comments") and "INDEX" not in line for line in plan
        )
    return index in text and "Seq Scan on comments" not in text


def run(args: argparse.Namespace, context: Context) -> Figures:
    return asyncio.run(_run(args, context))


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    queue = args.moderation_queue or (QUICK_QUEUE if context.quick else QUEUE)
    count = args.moderation_comments or (QUICK_COMMENTS if context.quick else COMMENTS)
    if queue < 51 or count < max(queue, 50_000):
        raise ValueError("--moderation-queue > 50 and --moderation-comments ≥ it and ≥ 50,000")
    figures: Figures = {"moderation_queue": float(queue), "moderation_comments": float(count)}
    with tempfile.TemporaryDirectory(prefix="comments-bench-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(
                fresh_database(args.moderation_database, Path(tmp))
            )
            store = create_store(url)
            try:
                context.progress(f"moderation: seeding {count:,} comments, {queue:,} held")
                started = time.monotonic()
                await seed(store, queue=queue, count=count)
                figures["moderation_seed_s"] = time.monotonic() - started
                measured, plans = await measure(store)
            finally:
                await store.close()
    figures.update(measured)
    for name, plan in plans.items():
        context.progress(f"moderation: plan of the {name}'s first page: {plan}")
    sqlite = store.is_sqlite
    figures["moderation_queue_index_used"] = float(
        uses_index(plans["queue"], "ix_comments_queue", sqlite=sqlite)
    )
    figures["moderation_search_index_used"] = float(
        uses_index(
            plans["search"], "comments_fts" if sqlite else "ix_comments_body_fts", sqlite=sqlite
        )
    )
    return figures


SECTION = Section(
    name="moderation",
    summary="the queue's first page (100,000 held) and a search over 1,000,000 comments",
    run=run,
    add_arguments=add_arguments,
    labels={
        "moderation_queue": "held comments in the queue",
        "moderation_comments": "comments in the database",
        "moderation_seed_s": "seconds to seed them in bulk (setup, not a target)",
        "moderation_queue_ms": "queue's first page of 50 with counts, ms (median)",
        "moderation_search_ms": "search for a rare word, first page of 50, ms (median)",
        "moderation_queue_index_used": "1 if the queue reads its partial index",
        "moderation_search_index_used": "1 if the search reads the full-text index",
    },
    targets={
        "moderation_queue_ms": Target("<=", 100.0, "first page on any queue length"),
        "moderation_search_ms": Target("<=", 100.0, "search over 1M comments"),
        "moderation_queue_index_used": Target(">=", 1.0),
        "moderation_search_index_used": Target(">=", 1.0),
    },
)
