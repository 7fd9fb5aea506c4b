"""Import benchmark: a realistic 200,000-comment Disqus export through ``comments import``.

The export is generated (seeded, so the same file every time; cached in the work dir):
threads with a long-tailed number of posts, about a third of them replies, HTML
messages with paragraphs, line breaks, links and entities, registered and anonymous
authors, a little spam and a few deleted posts. ``comments import disqus`` then runs as
its own process into a fresh database; its wall time and peak RSS (``wait4``) are the
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from comments.bench import Context, Figures, Section, Target
from comments.bench.database import SITE, fresh_database

COMMENTS = 200_000
QUICK_COMMENTS = 20_000

_WORDS = [
    "the",
    "council",
    "vote",
    "budget",
    "school",
    "minister",
    "report",
    "week",
    "city",
    "water",
    "road",
    "police",
    "court",
    "election",
    "people",
    "reader",
    "article",
    "story",
    "question",
    "answer",
    "data",
    "source",
    "time",
    "year",
    "plan",
    "really",
    "think",
    "agree",
    "disagree",
    "never",
    "always",
    "maybe",
    "because",
    "however",
    "although",
    "clearly",
    "interesting",
    "important",
    "wrong",
    "right",
    "point",
    "number",
    "money",
    "public",
    "private",
    "local",
    "national",
]
_NAMES = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eva",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Olu",
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 22))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice(".!?")


def _message(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0]):
        text = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        roll = rng.random()
        if roll < 0.1:
            text += ' See <a href="https://example.org/x" rel="nofollow">this</a>.'
        elif roll < 0.2:
            text = text.replace(" and ", " &amp; ", 1) + " &quot;quoted&quot; &#8212; ok"
        elif roll < 0.3:
            text += "<br>Second line<br/>third line"
        paragraphs.append(f"<p>{text}</p>")
    return "".join(paragraphs)


def write_disqus_export(out: IO[str], comments: int, *, seed: int = 18) -> None:
    """A Disqus export with ``comments`` posts (see the module's docstring)."""
    rng = random.Random(seed)
    threads = max(1, comments // 40)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(
        '<disqus xmlns="http://disqus.com" '
        'xmlns:dsq="http://disqus.com/disqus-internals" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    )
    out.write('<category dsq:id="1"><forum>news</forum><title>General</title></category>\n')
    thread_times = []
    for t in range(threads):
        at = start + timedelta(minutes=t * 97)
        thread_times.append(at)
        own = f"article-{t}" if rng.random() < 0.5 else ""
        out.write(
            f'<thread dsq:id="{1000 + t}"><id>{own}</id><forum>news</forum>'
            f'<category dsq:id="1"/><link>https://news.example.com/{at:%Y/%m}/story-{t}</link>'
            f"<title>Story {t} &amp; more</title><message/>"
            f"<createdAt>{at:%Y-%m-%dT%H:%M:%SZ}</createdAt>"
            "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
        )
    # Long tail: a few threads get most posts.
    weights = [1.0 / (i + 1) ** 0.8 for i in range(threads)]
    rng.shuffle(weights)
    chosen = rng.choices(range(threads), weights, k=comments)
    per_thread: dict[int, list[int]] = {}
    for n in range(comments):
        thread = chosen[n]
        siblings = per_thread.setdefault(thread, [])
        parent = rng.choice(siblings[-50:]) if siblings and rng.random() < 0.35 else None
        siblings.append(n)
        at = thread_times[thread] + timedelta(seconds=60 * len(siblings) + rng.randint(0, 59))
        user = rng.randint(0, 20_000)
        anonymous = user % 5 == 0
        name = f"{rng.choice(_NAMES)} {user}"
        author = (
            f"<author><name>{name}</name><isAnonymous>true</isAnonymous></author>"
            if anonymous
            else f"<author><name>{name}</name><isAnonymous>false</isAnonymous>"
            f"<username>user{user}</username></author>"
        )
        roll = rng.random()
        parent_tag = f'<parent dsq:id="{500_000 + parent}"/>' if parent is not None else ""
        out.write(
            f'<post dsq:id="{500_000 + n}"><id/><message><![CDATA[{_message(rng)}]]></message>'
            f"<createdAt>{at:%Y-%m-%dT%H:%M:%SZ}</createdAt>"
            f"<isDeleted>{'true' if 0.02 <= roll < 0.035 else 'false'}</isDeleted>"
            f"<isSpam>{'true' if roll < 0.02 else 'false'}</isSpam>"
            f"{author}<ipAddress>192.0.2.{user % 250}</ipAddress>"
            f'<thread dsq:id="{1000 + thread}"/>{parent_tag}</post>\n'
        )
    out.write("</disqus>\n")


def export_file(workdir: Path, comments: int) -> Path:
    path = workdir / f"disqus-{comments}.xml"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as out:
            write_disqus_export(out, comments)
        partial.replace(path)
    return path


def run_import(url: str, path: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS in kB, the summary) of `comments import disqus` in a process."""
    env = {**os.environ, "COMMENTS_DATABASE_URL": url}
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "comments", "import", "disqus", str(path), "--site", SITE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        summary = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"comments import failed ({proc.returncode}):\n{summary[-3000:]}")
    return seconds, int(usage.ru_maxrss), summary


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--importing-comments",
        type=int,
        default=None,
        help=f"posts in the export (default {COMMENTS}, {QUICK_COMMENTS} with --quick)",
    )
    group.add_argument(
        "--importing-database",
        default="sqlite",
        metavar="sqlite|URL",
        help="'sqlite' (a new file, the default) or a postgresql:// URL, on whose server a "
        "new database is created and dropped after",
    )


def run(args: argparse.Namespace, context: Context) -> Figures:
    comments = args.importing_comments or (QUICK_COMMENTS if context.quick else COMMENTS)
    context.progress(f"importing: writing a {comments}-post Disqus export")
    path = export_file(context.workdir, comments)

    async def measure() -> tuple[float, int, str]:
        with tempfile.TemporaryDirectory() as folder:
            async with fresh_database(args.importing_database, Path(folder)) as url:
                return await asyncio.to_thread(run_import, url, path)

    seconds, rss_kb, summary = asyncio.run(measure())
    context.progress("importing: " + summary.strip().splitlines()[0])
    return {
        "importing_posts": float(comments),
        "importing_file_mb": round(path.stat().st_size / 1e6, 1),
        "importing_seconds": round(seconds, 1),
        "importing_per_s": round(comments / seconds),
        "importing_peak_rss_mb": round(rss_kb / 1024, 1),
    }


def _judged(args: argparse.Namespace) -> bool:
    return not args.quick and (args.importing_comments or COMMENTS) >= COMMENTS


SECTION = Section(
    name="importing",
    summary="a 200,000-post Disqus export through `comments import`, in its own process",
    run=run,
    add_arguments=add_arguments,
    labels={
        "importing_posts": "posts in the export",
        "importing_file_mb": "export size, MB",
        "importing_seconds": "wall time of `comments import`, s",
        "importing_per_s": "posts read and written per second",
        "importing_peak_rss_mb": "peak RSS of the import process, MB",
    },
    targets={
        "importing_seconds": Target("<=", 90.0, "200k posts"),
        "importing_peak_rss_mb": Target("<=", 300.0),
    },
    judged=_judged,
)
