"""Reading benchmark: the first page of an article with 10,000 comments.

An article's thread is seeded straight through the Store (as published comments, each
with its event), then ``comments serve`` answers ``GET …/comments`` (the first page,
oldest first as the API's default, and newest first) and, as the baseline, ``/healthz``
on the same node, from the same client: the load generator's minimal HTTP/1.1 client
over ``--reading-connections`` keep-alive connections. The paths take turns, round by
round, so a change in machine load touches all of them alike.

Before that, the page query the Store runs is captured and handed to the database's
planner (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN`` after ``ANALYZE``):
``reading_index_used`` is 1 when the comments are read through an index, in page order,
with no scan of the table and no sort.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from comments.bench import Context, Figures, Section, Target
from comments.bench.database import SITE, fresh_database
from comments.bench.processes import LoadGen, start_node
from comments.models import Status
from comments.store import Store, create_store

COMMENTS = 10_000
# An indexed first page costs the same whatever the thread's length: --quick seeds less.
QUICK_COMMENTS = 2_000
OTHER_ARTICLES = 100
OTHER_COMMENTS = 3
ARTICLE = "2026/11/the-long-thread"
PAGE = f"/api/v1/sites/{SITE}/articles/{ARTICLE}/comments"
COUNTS = f"/api/v1/sites/{SITE}/counts?article={ARTICLE}"
PATHS = {
    "healthz": "/healthz",
    "page": PAGE,
    "newest_page": PAGE + "?order=newest",
    "counts": COUNTS,
}
BODY = (
    "Comment {n}. I read the whole piece twice and still cannot tell whether the council "
    "knew before the vote; the timeline in the third paragraph suggests it did."
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--reading-comments",
        type=int,
        default=None,
        help=f"comments in the article (default {COMMENTS}, {QUICK_COMMENTS} with --quick)",
    )
    group.add_argument(
        "--reading-seconds",
        type=float,
        default=None,
        help="length of each path's turn (default 3, 1.5 with --quick)",
    )
    group.add_argument(
        "--reading-rounds",
        type=int,
        default=None,
        help="turns each path takes (default 5, 3 with --quick)",
    )
    group.add_argument(
        "--reading-connections",
        type=int,
        default=8,
        help="keep-alive connections the client keeps busy (default 8)",
    )
    group.add_argument(
        "--reading-broker",
        default="memory://",
        metavar="URL",
        help="the node's broker: memory:// (the default) or a redis:// URL, where cached "
        "reads wait for a broker barrier (a PING) before they trust their marks",
    )
    group.add_argument(
        "--reading-database",
        default="sqlite",
        metavar="sqlite|URL",
        help="'sqlite' (a new file, the default) or a postgresql:// URL, on whose server a "
        "new database is created and dropped after",
    )


async def seed(store: Store, count: int, *, others: int = OTHER_ARTICLES) -> None:
    """``count`` published comments on :data:`ARTICLE`, straight into the store, and a
    few on each of ``others`` other articles, so the planner sees a site, not one thread."""
    author, _ = await store.create_guest(SITE, "Reader")
    threads = [(ARTICLE, n) for n in range(count)]
    threads += [(f"2026/11/story-{a}", n) for a in range(others) for n in range(OTHER_COMMENTS)]
    for article, n in threads:
        await store.create_comment(
            site=SITE,
            article=article,
            author=author,
            body=BODY.format(n=n),
            parent=None,
            status=Status.PUBLISHED,
        )


async def page_plans(store: Store, site: str, article: str) -> dict[str, list[str]]:
    """The database's plan for the first page, oldest and newest first: the statements
    ``Store.list_published`` really runs, captured as they go out, then explained."""
    import sqlalchemy as sa
    from sqlalchemy import event

    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY comments.seq" in statement:
            captured.append((statement, parameters))

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for newest in (False, True):
            await store.list_published(site, article, newest_first=newest, cursor=None, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    if len(captured) != 2:
        raise RuntimeError(f"expected two page queries, captured {len(captured)}")
    plans: dict[str, list[str]] = {}
    async with store.engine.connect() as conn:
        if store.is_sqlite:
            await conn.execute(sa.text("ANALYZE"))
        else:
            await conn.execute(sa.text("ANALYZE comments"))
            await conn.execute(sa.text("ANALYZE articles"))
        for name, (statement, parameters) in zip(("oldest", "newest"), captured, strict=True):
            explain = "EXPLAIN QUERY PLAN " if store.is_sqlite else "EXPLAIN "
            rows = (await conn.exec_driver_sql(explain + statement, parameters)).all()
            plans[name] = [str(row[-1]) for row in rows]  # the detail / the plan line
    return plans


def reads_by_index(plan: list[str], *, sqlite: bool) -> bool:
    """Does the plan read comments through an index, in order, without a scan or a sort?"""
    text = "\n".join(plan)
    if sqlite:
        on_comments = [line for line in plan if " comments " in f" {line} "]
        return (
            any("USING INDEX" in line or "USING COVERING INDEX" in line for line in on_comments)
            and not any(line.startswith("SCAN comments") for line in on_comments)
            and "TEMP B-TREE" not in text
        )
    return (
        "Index Scan" in text
        and " on comments" in text
        and "Seq Scan on comments" not in text
        and "Sort" not in text
    )


def run(args: argparse.Namespace, context: Context) -> Figures:
    """Seed, explain, serve and measure; return the figures."""
    return asyncio.run(_run(args, context))


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    import httpx

    count = args.reading_comments or (QUICK_COMMENTS if context.quick else COMMENTS)
    seconds = args.reading_seconds or (1.5 if context.quick else 3.0)
    rounds = max(1, args.reading_rounds or (3 if context.quick else 5))
    if count < 51 or args.reading_connections < 1 or seconds <= 0:
        raise ValueError("--reading-comments > 50, --reading-connections and the time > 0")
    figures: Figures = {"reading_comments": float(count)}
    with tempfile.TemporaryDirectory(prefix="comments-bench-") as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(fresh_database(args.reading_database, folder))
            store = create_store(url)
            try:
                context.progress(f"reading: seeding {count} comments")
                started = time.monotonic()
                await seed(store, count)
                figures["reading_seed_per_s"] = count / (time.monotonic() - started)
                plans = await page_plans(store, SITE, ARTICLE)
            finally:
                await store.close()
            indexed = all(reads_by_index(p, sqlite=store.is_sqlite) for p in plans.values())
            for name, plan in plans.items():
                context.progress(f"reading: plan of the first page, {name} first: {plan}")
            figures["reading_index_used"] = 1.0 if indexed else 0.0

            server = await start_node(
                "ours",
                folder,
                {
                    "COMMENTS_DATABASE_URL": url,
                    "COMMENTS_REDIS_URL": args.reading_broker,
                    "COMMENTS_CHANNEL_PREFIX": f"bench-reading-{os.getpid()}",
                    # The classifier plays no part in reading; the bundled one starts at once.
                    "COMMENTS_CLASSIFIER": "profanity-check",
                },
            )
            stack.push_async_callback(server.stop)
            loadgen = await LoadGen.start()
            stack.push_async_callback(loadgen.stop)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                page = await http.get(PAGE)
                body = page.json()
                if page.status_code != 200 or len(body["comments"]) != 50 or not body["next"]:
                    raise RuntimeError(f"the first page is not 50 comments: {page.text[:300]}")
                figures["reading_page_kb"] = len(page.content) / 1024

            done = dict.fromkeys(PATHS, 0)
            spent = dict.fromkeys(PATHS, 0.0)
            server_cpu = dict.fromkeys(PATHS, 0.0)
            loadgen_cpu = dict.fromkeys(PATHS, 0.0)
            for name in PATHS:  # warm-up, untimed
                await _load(loadgen, server.port, PATHS[name], args.reading_connections, 0.3)
            names = list(PATHS)
            for turn in range(rounds):
                context.progress(f"reading: round {turn + 1}/{rounds}")
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    cpu = server.cpu_seconds(), loadgen.cpu_seconds()
                    result = await _load(
                        loadgen, server.port, PATHS[name], args.reading_connections, seconds
                    )
                    done[name] += result["requests"]
                    spent[name] += result["seconds"]
                    server_cpu[name] += server.cpu_seconds() - cpu[0]
                    loadgen_cpu[name] += loadgen.cpu_seconds() - cpu[1]
    for name in PATHS:
        figures[f"reading_{name}_per_s"] = done[name] / spent[name]
    figures["reading_ratio_vs_healthz"] = (
        figures["reading_page_per_s"] / figures["reading_healthz_per_s"]
    )
    figures["reading_newest_ratio_vs_healthz"] = (
        figures["reading_newest_page_per_s"] / figures["reading_healthz_per_s"]
    )
    # Issue #15's figures: the newest page (what the widget loads) and one article's count.
    figures["read_page_ratio_vs_healthz"] = figures["reading_newest_ratio_vs_healthz"]
    figures["read_counts_ratio_vs_healthz"] = (
        figures["reading_counts_per_s"] / figures["reading_healthz_per_s"]
    )
    figures["reading_page_server_cores"] = server_cpu["page"] / spent["page"]
    figures["reading_healthz_server_cores"] = server_cpu["healthz"] / spent["healthz"]
    figures["reading_page_loadgen_cores"] = loadgen_cpu["page"] / spent["page"]
    return figures


async def _load(
    loadgen: LoadGen, port: int, path: str, connections: int, seconds: float
) -> dict[str, Any]:
    result = await loadgen.ask(
        {"cmd": "http", "port": port, "path": path, "connections": connections, "seconds": seconds}
    )
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"GET {path}: {result['errors']} errors, {result['requests']} answers")
    return result


SECTION = Section(
    name="reading",
    summary="the first page of an article with 10,000 comments, against /healthz",
    run=run,
    add_arguments=add_arguments,
    labels={
        "reading_comments": "comments in the article",
        "reading_seed_per_s": "comments seeded/s through the Store (setup, not a target)",
        "reading_index_used": "1 if the page query reads an index, in order, unsorted",
        "reading_page_kb": "first page (50 comments), kB of JSON",
        "reading_healthz_per_s": "GET /healthz, requests/s (the baseline)",
        "reading_page_per_s": "GET first page, oldest first (the default), requests/s",
        "reading_newest_page_per_s": "GET first page, newest first, requests/s",
        "reading_ratio_vs_healthz": "first page / healthz, requests/s",
        "reading_newest_ratio_vs_healthz": "first page newest first / healthz, requests/s",
        "reading_counts_per_s": "GET counts of the article, requests/s",
        "read_page_ratio_vs_healthz": "newest first page / healthz (issue #15: >= 0.7)",
        "read_counts_ratio_vs_healthz": "counts / healthz (issue #15: >= 0.7)",
        "reading_healthz_server_cores": "server CPU while serving /healthz, cores",
        "reading_page_server_cores": "server CPU while serving the page, cores",
        "reading_page_loadgen_cores": "client CPU meanwhile, cores",
    },
    targets={"reading_index_used": Target(">=", 1.0, "the page is read from an index")},
)
