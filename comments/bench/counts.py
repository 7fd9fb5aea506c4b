"""Live counts benchmark: what a count socket (count.js's, 20 articles) costs a node in
memory, beside an idle thread socket.

Each kind runs in a fresh ``comments serve`` (bundled model, SQLite, in-process broker)
that takes ``--counts-sockets`` sockets from the load generator: thread sockets spread
over 20 articles, then (in another node) count sockets each following the same 20
articles, as the pages of one front page do; and count sockets of 20 articles of their
own each (the worst case: every article a channel of its own), a tenth as many. The
figure is the node's resident memory grown per socket (RSS, so allocator slack is in).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path

from comments.bench import Context, Figures, Section
from comments.bench.database import SITE, fresh_database
from comments.bench.processes import LoadGen, start_node
from comments.bench.procfs import rss_kb

SOCKETS = 5_000
QUICK_SOCKETS = 1_000
ARTICLES = 20


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--counts-sockets",
        type=int,
        default=None,
        help=f"sockets of each kind (default {SOCKETS}, {QUICK_SOCKETS} with --quick)",
    )


def run(args: argparse.Namespace, context: Context) -> Figures:
    return asyncio.run(_run(args, context))


def _thread(n: int) -> str:
    return f"/ws/v1/sites/{SITE}/articles/front-{n % ARTICLES}"


def _counts(articles: list[str]) -> str:
    return f"/ws/v1/sites/{SITE}/counts?" + "&".join(f"article={a}" for a in articles)


FRONT = _counts([f"front-{i}" for i in range(ARTICLES)])


def _own(n: int) -> str:
    return _counts([f"own-{n}-{i}" for i in range(ARTICLES)])


async def _kib_per_socket(name: str, paths: list[str], context: Context) -> float:
    with tempfile.TemporaryDirectory(prefix="comments-bench-") as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(fresh_database("sqlite", folder))
            server = await start_node(
                name,
                folder,
                {
                    "COMMENTS_DATABASE_URL": url,
                    "COMMENTS_REDIS_URL": "memory://",
                    "COMMENTS_CLASSIFIER": "profanity-check",
                    "COMMENTS_MAX_SOCKETS_PER_IP": "0",
                },
            )
            stack.push_async_callback(server.stop)
            loadgen = await LoadGen.start()
            stack.push_async_callback(loadgen.stop)
            # One socket first, closed: the code paths and caches of the kind are warm.
            await loadgen.ask({"cmd": "open", "port": server.port, "paths": paths[:1]})
            await loadgen.ask({"cmd": "close", "keep": 0})
            await asyncio.sleep(1.0)
            before = rss_kb(server.proc.pid)
            context.progress(f"counts: {name}: opening {len(paths)} sockets")
            for first in range(0, len(paths), 1000):
                reply = await loadgen.ask(
                    {"cmd": "open", "port": server.port, "paths": paths[first : first + 1000]}
                )
                if reply["failed"]:
                    raise RuntimeError(f"{reply['failed']} sockets did not open: {reply['errors']}")
            await asyncio.sleep(2.0)  # the counts sent on open, the collector's turn
            grown = rss_kb(server.proc.pid) - before
    return grown / len(paths)


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    sockets = args.counts_sockets or (QUICK_SOCKETS if context.quick else SOCKETS)
    if sockets < 10:
        raise ValueError("--counts-sockets >= 10")
    thread = await _kib_per_socket("threads", [_thread(n) for n in range(sockets)], context)
    front = await _kib_per_socket("counts", [FRONT] * sockets, context)
    own = await _kib_per_socket("counts-own", [_own(n) for n in range(sockets // 10)], context)
    return {
        "counts_thread_socket_kib": thread,
        "counts_socket_kib": front,
        "counts_socket_ratio": front / thread if thread > 0 else float("nan"),
        "counts_own_articles_socket_kib": own,
        "counts_sockets": float(sockets),
    }


SECTION = Section(
    name="counts",
    summary="memory of a live counts socket (20 articles) beside an idle thread socket",
    run=run,
    add_arguments=add_arguments,
    labels={
        "counts_thread_socket_kib": "node memory per idle thread socket (20 articles), KiB",
        "counts_socket_kib": "per count socket following the same 20 articles, KiB",
        "counts_socket_ratio": "count socket ÷ thread socket",
        "counts_own_articles_socket_kib": "per count socket of 20 articles of its own, KiB",
        "counts_sockets": "sockets of each kind",
    },
)
