"""Ingest benchmark: the server's CPU per accepted post, and per refused one.

``comments serve`` (the bundled classifier, SQLite by default) takes posts from the load
generator, a process of its own: distinct clean comments from one returning guest, over
``--ingest-connections`` keep-alive connections. The figure is the server process's CPU
time (user + system, from /proc) over the posts it answered 201, so the client's own
cost never counts. Then the same for posts refused by the per-address rate limit (a site
that allows one post a minute per address): what a flood costs the node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

from comments.bench import Context, Figures, Section
from comments.bench.database import SITE, add_site, fresh_database
from comments.bench.processes import LoadGen, Server, start_node

ARTICLE = "2026/12/the-busy-thread"
LIMITED = "bench-limited"
POSTS = 2_000
QUICK_POSTS = 300
REFUSALS = 5_000
QUICK_REFUSALS = 1_000
_TAGS = itertools.count(1)
TEMPLATE = json.dumps(
    {
        "body": "Comment {n}: the second chart contradicts the minister's own figures, "
        "and nobody at the briefing asked about it.",
        "author_name": "Reader",
    }
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--ingest-posts",
        type=int,
        default=None,
        help=f"accepted posts to time (default {POSTS}, {QUICK_POSTS} with --quick)",
    )
    group.add_argument(
        "--ingest-refusals",
        type=int,
        default=None,
        help=f"rate-limited posts to time (default {REFUSALS}, {QUICK_REFUSALS} with --quick)",
    )
    group.add_argument(
        "--ingest-connections",
        type=int,
        default=4,
        help="keep-alive connections posting at once (default 4)",
    )
    group.add_argument(
        "--ingest-database",
        default="sqlite",
        metavar="sqlite|URL",
        help="'sqlite' (a new file, the default) or a postgresql:// URL, on whose server a "
        "new database is created and dropped after",
    )


def run(args: argparse.Namespace, context: Context) -> Figures:
    return asyncio.run(_run(args, context))


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    import httpx

    posts = args.ingest_posts or (QUICK_POSTS if context.quick else POSTS)
    refusals = args.ingest_refusals or (QUICK_REFUSALS if context.quick else REFUSALS)
    if posts < 1 or refusals < 1 or args.ingest_connections < 1:
        raise ValueError("--ingest-posts, --ingest-refusals and --ingest-connections > 0")
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="comments-bench-") as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(fresh_database(args.ingest_database, folder))
            await add_site(url, LIMITED, {"posts_per_minute_per_ip": 1})
            server = await start_node(
                "ours",
                folder,
                {
                    "COMMENTS_DATABASE_URL": url,
                    "COMMENTS_REDIS_URL": "memory://",
                    "COMMENTS_CLASSIFIER": "profanity-check",
                },
            )
            stack.push_async_callback(server.stop)
            loadgen = await LoadGen.start()
            stack.push_async_callback(loadgen.stop)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                first = await http.post(
                    f"/api/v1/sites/{SITE}/articles/{ARTICLE}/comments",
                    json={"body": "The first comment.", "author_name": "Reader"},
                )
                if first.status_code != 201:
                    raise RuntimeError(f"the first post was not published: {first.text[:300]}")
                guest = first.json()["guest_token"]
            headers = {"Content-Type": "application/json", "X-Comments-Guest": guest}
            path = f"/api/v1/sites/{SITE}/articles/{ARTICLE}/comments"

            context.progress("ingest: warming up")
            await _post(loadgen, server, path, headers, args.ingest_connections, 50, "201")
            context.progress(f"ingest: {posts} accepted posts")
            done = await _post(
                loadgen, server, path, headers, args.ingest_connections, posts, "201"
            )
            figures["post_cpu_ms"] = done["server_cpu"] / done["count"] * 1000
            figures["ingest_posts_per_s"] = done["count"] / done["seconds"]
            figures["ingest_loadgen_cores"] = done["loadgen_cpu"] / done["seconds"]

            context.progress(f"ingest: {refusals} posts refused by the per-address limit")
            limited = f"/api/v1/sites/{LIMITED}/articles/{ARTICLE}/comments"
            new_guest = {"Content-Type": "application/json"}
            await _post(loadgen, server, limited, new_guest, 1, 1, "201")
            refused = await _post(
                loadgen, server, limited, new_guest, args.ingest_connections, refusals, "429"
            )
            figures["refusal_cpu_ms"] = refused["server_cpu"] / refused["count"] * 1000
            figures["ingest_refusals_per_s"] = refused["count"] / refused["seconds"]
    return figures


async def _post(
    loadgen: LoadGen,
    server: Server,
    path: str,
    headers: dict[str, str],
    connections: int,
    total: int,
    expected: str,
) -> dict[str, Any]:
    # Numbers restart with every command: a tag keeps bodies unique across them (the
    # same text from the same author within a minute is a duplicate, refused 409).
    template = TEMPLATE.replace("{n}", f"{next(_TAGS)}.{{n}}")
    cpu = server.cpu_seconds(), loadgen.cpu_seconds()
    result = await loadgen.ask(
        {
            "cmd": "post",
            "port": server.port,
            "path": path,
            "headers": headers,
            "template": template,
            "connections": connections,
            "total": total,
            "seconds": 300.0,
        }
    )
    statuses: dict[str, int] = result["statuses"]
    if statuses.get(expected, 0) != total:
        raise RuntimeError(f"POST {path}: wanted {total} answers {expected}, got {statuses}")
    return {
        "count": total,
        "seconds": result["seconds"],
        "server_cpu": server.cpu_seconds() - cpu[0],
        "loadgen_cpu": loadgen.cpu_seconds() - cpu[1],
    }


SECTION = Section(
    name="ingest",
    summary="server CPU per accepted post and per rate-limited refusal (bundled model)",
    run=run,
    add_arguments=add_arguments,
    labels={
        "post_cpu_ms": "server CPU per accepted post, ms",
        "ingest_posts_per_s": "accepted posts/s",
        "ingest_loadgen_cores": "client CPU while posting, cores",
        "refusal_cpu_ms": "server CPU per post refused by the per-address limit, ms",
        "ingest_refusals_per_s": "refusals/s",
    },
)
