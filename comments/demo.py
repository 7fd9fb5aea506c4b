"""``comments demo``: the whole product with one command.

Serves a sample news article with the comment widget under it (``/demo``) and the
moderator console (``/moderation``) from a SQLite file of its own, after creating a site
that allows guests and the demo's origins, and a moderator whose token it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from comments.argtypes import port
from comments.models import Author, Status
from comments.observability.logs import setup_logging
from comments.settings import Settings, normalize_database_url
from comments.store import Store, create_store

DEMO_SITE = "demo"
DEMO_ARTICLE = "2025/07/lavrov-kim"
DEMO_MODERATOR = "demo-moderator"
DEFAULT_DB = "./comments-demo.db"

# A few readers so the thread is not empty on first look (added once, on a fresh file).
SEED: list[tuple[str, str, int | None]] = [
    (
        "Mira K.",
        "Interesting that the meeting came right after the joint air drill. "
        "The timing hardly looks accidental.",
        None,
    ),
    (
        "Tomás",
        "Does anyone know whether the SCO meeting next week is expected to produce "
        "a joint statement?",
        None,
    ),
    ("Jae-won", "Usually only a communiqué; the real talks happen on the sidelines.", 1),
]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the ``comments`` command's sub-parsers."""
    demo = subparsers.add_parser(
        "demo",
        help="serve a sample article with live comments and the moderator console",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    demo.add_argument(
        "--port", type=port, default=8000, help="TCP port to listen on, 1-65535 (default 8000)"
    )
    demo.add_argument(
        "--db", default=DEFAULT_DB, help=f"the demo's SQLite file (default {DEFAULT_DB})"
    )
    demo.set_defaults(func=run)
    result: argparse.ArgumentParser = demo
    return result


def demo_origins(host: str, port: int) -> list[str]:
    hosts = {host, "127.0.0.1", "localhost"} - {"0.0.0.0", "::", ""}
    return sorted(f"http://{h}:{port}" if ":" not in h else f"http://[{h}]:{port}" for h in hosts)


async def prepare(store: Store, origins: list[str]) -> str:
    """Create (or refresh) the demo site, seed a few comments, return a fresh moderator
    token (the previous demo token is revoked: tokens are stored hashed, shown once)."""
    from comments.store.review import ReviewStore

    await store.migrate()
    settings = {"origins": origins, "guests": True}
    if not await store.create_site(DEMO_SITE, settings):
        stored = await store.get_site(DEMO_SITE) or {}
        await store.save_site(DEMO_SITE, {**stored, **settings})
    if not (await store.counts(DEMO_SITE, [DEMO_ARTICLE])).get(DEMO_ARTICLE):
        ids: list[str] = []
        for name, body, parent in SEED:
            author, _ = await store.create_guest(DEMO_SITE, name)
            comment, _ = await store.create_comment(
                site=DEMO_SITE,
                article=DEMO_ARTICLE,
                author=Author(id=author.id, name=name),
                body=body,
                parent=None if parent is None else ids[parent - 1],
                status=Status.PUBLISHED,
            )
            ids.append(comment.id)
    review = ReviewStore(store)
    await review.revoke_moderator(DEMO_SITE, DEMO_MODERATOR)
    return await review.add_moderator(DEMO_SITE, DEMO_MODERATOR)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from comments.server.config import build_config, check_uvicorn, serve_forever
    from comments.web.app import create_app
    from comments.web.assets import Demo

    db = args.db if "://" in args.db else f"sqlite:///{args.db}"
    # Its own file and an in-process broker: the demo never touches a real deployment.
    settings = settings.with_(
        database_url=normalize_database_url(db), broker_url="memory://"
    ).serving_at(args.host, args.port)
    origins = demo_origins(args.host, args.port)

    async def setup() -> str:
        store = create_store(settings.database_url)
        try:
            return await prepare(store, origins)
        finally:
            await store.close()

    token = asyncio.run(setup())
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    base = f"http://{shown_host}:{args.port}"
    print(
        "\n".join(
            [
                "",
                "  comments demo",
                "",
                f"  Article and comments   {base}/demo",
                f"  Moderator console      {base}/moderation",
                f"  Moderator token        {token}",
                f"  Site                   {DEMO_SITE} (guests allowed)",
                f"  Allowed origins        {', '.join(origins)}",
                f"  Database               {args.db} (delete it to start afresh)",
                "",
                "  Open the article in two windows and comment in both: comments appear live.",
                "  Insulting ones wait in the console, where you approve or reject them.",
                "  Press Ctrl+C to stop.",
                "",
            ]
        ),
        flush=True,
    )
    setup_logging(settings)
    app = create_app(settings, freeze_gc=True, demo=Demo(site=DEMO_SITE, article=DEMO_ARTICLE))
    check_uvicorn()
    config = build_config(
        app,
        settings,
        host=args.host,
        port=args.port,
        access_log=False,
        graceful_shutdown_s=5,
    )
    serve_forever(config)
    sys.stdout.flush()
    return 0
