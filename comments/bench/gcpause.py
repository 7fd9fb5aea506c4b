"""GC benchmark: the longest garbage-collection pause of a node holding many sockets
while they churn.

``comments serve`` (bundled model, SQLite, in-process broker) takes ``--gc-sockets``
sockets from the load generator (a process of its own), in slices of a thousand, then
for ``--gc-seconds`` connects a hundred more every second and drops them again
(connect/disconnect 100/s). The node times every collection (``gc.callbacks``, see
:mod:`comments.server.gc_tuning`) and logs the longest pause when it stops: that is
``gc_max_pause_ms`` (``gc_max_pause_ms_10k`` too when the run held 10,000 sockets). Run
with the tuning (the default) and, for comparison, without (``--gc-untuned``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import tempfile
import time
from pathlib import Path

from comments.bench import Context, Figures, Section
from comments.bench.database import SITE, fresh_database
from comments.bench.processes import LoadGen, start_node

SOCKETS = 10_000
QUICK_SOCKETS = 2_000
SECONDS = 30.0
QUICK_SECONDS = 10.0
CHURN_PER_S = 100
ARTICLES = 100
_LOGGED = re.compile(
    r"gc: longest pause ([0-9.]+) ms over (\d+) collections \(generation (-?\d).*"
    r"longest CPU ([0-9.]+) ms"
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--gc-sockets",
        type=int,
        default=None,
        help=f"sockets held (default {SOCKETS}, {QUICK_SOCKETS} with --quick)",
    )
    group.add_argument(
        "--gc-seconds",
        type=float,
        default=None,
        help=f"seconds of churn at {CHURN_PER_S}/s (default {SECONDS:g}, "
        f"{QUICK_SECONDS:g} with --quick)",
    )
    group.add_argument(
        "--gc-untuned",
        action="store_true",
        help="run the node with COMMENTS_GC_TUNING=0 (the interpreter's collector)",
    )


def run(args: argparse.Namespace, context: Context) -> Figures:
    return asyncio.run(_run(args, context))


def _path(n: int) -> str:
    return f"/ws/v1/sites/{SITE}/articles/gc-{n % ARTICLES}"


async def _open(loadgen: LoadGen, port: int, paths: list[str]) -> None:
    for first in range(0, len(paths), 1000):
        reply = await loadgen.ask(
            {"cmd": "open", "port": port, "paths": paths[first : first + 1000]}
        )
        if reply["failed"]:
            raise RuntimeError(f"{reply['failed']} sockets did not open: {reply['errors']}")


async def _run(args: argparse.Namespace, context: Context) -> Figures:
    sockets = args.gc_sockets or (QUICK_SOCKETS if context.quick else SOCKETS)
    seconds = args.gc_seconds or (QUICK_SECONDS if context.quick else SECONDS)
    if sockets < 1 or seconds <= 0:
        raise ValueError("--gc-sockets and --gc-seconds > 0")
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="comments-bench-") as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(fresh_database("sqlite", folder))
            server = await start_node(
                "gc",
                folder,
                {
                    "COMMENTS_DATABASE_URL": url,
                    "COMMENTS_REDIS_URL": "memory://",
                    "COMMENTS_CLASSIFIER": "profanity-check",
                    "COMMENTS_MAX_SOCKETS_PER_IP": "0",
                    "COMMENTS_WS_FRAMES_PER_S": "0",
                    "COMMENTS_GC_TUNING": "0" if args.gc_untuned else "1",
                },
            )
            stack.push_async_callback(server.stop)
            loadgen = await LoadGen.start()
            stack.push_async_callback(loadgen.stop)
            context.progress(f"gc: opening {sockets} sockets")
            await _open(loadgen, server.port, [_path(n) for n in range(sockets)])
            context.progress(f"gc: {seconds:g} s of churn, {CHURN_PER_S} sockets/s")
            start = time.monotonic()
            turns = 0
            while time.monotonic() - start < seconds:
                began = time.monotonic()
                await _open(loadgen, server.port, [_path(sockets + n) for n in range(CHURN_PER_S)])
                await loadgen.ask({"cmd": "close", "keep": sockets})
                turns += 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
            figures["gc_churn_per_s"] = turns * CHURN_PER_S / (time.monotonic() - start)
            figures["gc_sockets"] = float(sockets)
            await loadgen.stop()
            await server.stop()
            found = _LOGGED.search(server.log_tail(20_000))
            if found is None:
                raise RuntimeError(f"the node logged no gc pause:\n{server.log_tail()}")
            figures["gc_max_pause_ms"] = float(found.group(1))
            figures["gc_collections"] = float(found.group(2))
            figures["gc_longest_generation"] = float(found.group(3))
            figures["gc_max_pause_cpu_ms"] = float(found.group(4))
            if sockets >= SOCKETS:
                figures["gc_max_pause_ms_10k"] = figures["gc_max_pause_ms"]
    return figures


SECTION = Section(
    name="gc",
    summary="longest GC pause of a node holding sockets that churn (100/s)",
    run=run,
    add_arguments=add_arguments,
    labels={
        "gc_max_pause_ms": "longest GC pause while sockets churn, ms",
        "gc_max_pause_ms_10k": "the same at 10,000 sockets, ms",
        "gc_max_pause_cpu_ms": "CPU of the longest collection (a busy host inflates wall), ms",
        "gc_collections": "collections during the run",
        "gc_longest_generation": "the generation the longest pause collected",
        "gc_sockets": "sockets held",
        "gc_churn_per_s": "sockets connected and dropped per second",
    },
)
